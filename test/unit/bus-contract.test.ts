// The bus contract (test/contracts/bus.ts) against the in-memory twin; test/e2e/bus-contract.test.ts
// runs the same contract against Kafka.
import { test } from "bun:test";
import { createMemoryBus } from "../../src/infra/memory/memory-bus.ts";
import { busContract } from "../contracts/bus.ts";

test("the in-memory bus keeps the bus contract", async () => {
  const bus = createMemoryBus();
  await busContract(() => bus.publisher("relay"), async () => bus.log.map((m) => m.value));
});
