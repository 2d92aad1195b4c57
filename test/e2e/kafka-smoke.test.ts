// The broker and the Kafka client work together: a message produced and consumed with
// @confluentinc/kafka-javascript on Node 24 against the local KRaft broker.
import { expect, test } from "bun:test";
import { NODE24, spawn } from "../support/processes.ts";

test("a message produced on Node 24 comes back from the local broker", async () => {
  const proc = spawn([NODE24, "scripts/kafka-smoke.ts"]);
  const code = await proc.exited;
  expect({ code, output: proc.output() }).toEqual({ code: 0, output: expect.stringContaining("kafka smoke ok") });
});
