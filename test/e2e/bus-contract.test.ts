// The bus contract (test/contracts/bus.ts) against the local Kafka broker with the relay's
// transactional publisher, run on Node 24 (the Kafka client does not load on Bun).
import { expect, test } from "bun:test";
import { NODE24, spawn } from "../support/processes.ts";

test("Kafka with the relay's transactional publisher keeps the bus contract (order, fencing)", async () => {
  const proc = spawn([NODE24, "test/support/bus-contract-kafka.ts"]);
  const code = await proc.exited;
  expect({ code, output: proc.output() }).toEqual({ code: 0, output: expect.stringContaining("bus contract ok") });
});
