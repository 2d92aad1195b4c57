// The relay's run of `kafka-tool redrive` (src/infra/kafka-tool-runner.ts): stopped with the relay,
// it says so rather than failing as if the tool could not run.
import { expect, test } from "bun:test";
import { redriveDeadLetters } from "../../../src/infra/kafka-tool-runner.ts";

test("a re-drive cut short by the relay stopping says that the relay is stopping", async () => {
  const stop = new AbortController();
  const run = redriveDeadLetters({ brokers: ["127.0.0.1:9"], dlqTopic: "none.dlq", signal: stop.signal });
  stop.abort();
  await expect(run).rejects.toThrow("kafka-tool redrive was stopped: the relay is stopping");
});
