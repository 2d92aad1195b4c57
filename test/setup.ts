// Preloaded by bun test (bunfig.toml). End-to-end tests start real processes and restart the
// broker, so a test gets a minute unless it says otherwise; nothing here asserts on time.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
