// Preloaded by bun test (bunfig.toml). End-to-end tests start real processes and restart the
// broker, so a test gets a minute unless it says otherwise; nothing here asserts on time.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000); // also given as `bun test --timeout 60000` by scripts/test.sh: Bun 1.4.5 does not apply this to every file
