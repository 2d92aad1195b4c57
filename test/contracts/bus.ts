// The contract of the event bus's publishing side (OutboxPublisher), as plain async code with
// node:assert so it runs on Bun (against the in-memory twin) and on Node 24 (against Kafka, whose
// client Bun cannot load): test/unit/bus-contract.test.ts and test/e2e/bus-contract.test.ts.
import assert from "node:assert/strict";
import type { OutboxPublisher } from "../../src/usecases/ports.ts";

/**
 * `make()` returns a publisher with the transactional id every relay shares; `read()` the values a
 * read_committed consumer sees on the topic, in order. Throws at the first broken rule.
 */
export async function busContract(make: () => OutboxPublisher, read: () => Promise<string[]>): Promise<void> {
  const first = make();
  await assert.rejects(first.publish([{ key: "a", value: "never" }]), "a publisher that is not open publishes nothing");
  assert.equal(await first.open(), true, "open() opens a producer");
  assert.equal(await first.open(), false, "open() on an open producer does nothing");
  await first.publish([
    { key: "a", value: "a1" },
    { key: "b", value: "b1" },
    { key: "a", value: "a2" },
  ]);
  assert.deepEqual(await read(), ["a1", "b1", "a2"], "a batch arrives whole and in order");

  // A second relay opens its producer: the first one is fenced, its batch never appears.
  const second = make();
  assert.equal(await second.open(), true);
  await assert.rejects(first.publish([{ key: "a", value: "fenced" }]), "a producer opened before another of the same id is fenced");
  await second.publish([{ key: "a", value: "a3" }]);
  assert.deepEqual(await read(), ["a1", "b1", "a2", "a3"], "only the newest producer's batches arrive");

  // Closed, then opened again: it is the newest again and publishes.
  await second.close();
  await assert.rejects(second.publish([{ key: "a", value: "closed" }]), "a closed publisher publishes nothing");
  await first.close();
  assert.equal(await first.open(), true);
  await first.publish([{ key: "b", value: "b2" }]);
  assert.deepEqual(await read(), ["a1", "b1", "a2", "a3", "b2"]);
  await first.close();
}
