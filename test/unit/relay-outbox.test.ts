// The relay loop over the twins (an in-memory outbox with the leader lock, and a transactional
// bus): order, marking only after the publish, the backoff after failures, and the switch of a
// standby to leader when the leader's session ends, with the old producer fenced. The pauses are
// recorded and yield at once; every wait is for a condition.
import { describe, expect, test } from "bun:test";
import { createMemoryBus, FencedProducerError } from "../../src/infra/memory/memory-bus.ts";
import { createMemoryDatabase, createMemoryEventStore, createMemoryOutboxStore } from "../../src/infra/memory/memory-database.ts";
import { createCommandExecutor } from "../../src/usecases/commands.ts";
import { NotLeaderError, type OutboxPublisher } from "../../src/usecases/ports.ts";
import { createRelay } from "../../src/usecases/relay-outbox.ts";
import { ctx, fields, logger, until } from "./usecases/twins.ts";

function world() {
  const db = createMemoryDatabase();
  const bus = createMemoryBus();
  const execute = createCommandExecutor({ store: createMemoryEventStore(db), writer: null, ctx });
  return { db, bus, execute };
}
function relayOn(w: ReturnType<typeof world>, publisher: OutboxPublisher = w.bus.publisher()) {
  const store = createMemoryOutboxStore(w.db);
  const seen = { leader: [] as boolean[], errors: 0, pauses: [] as number[] };
  const relay = createRelay({
    store,
    publisher,
    logger,
    observe: { published: () => {}, leader: (l) => seen.leader.push(l), backlog: () => {}, error: () => seen.errors++ },
    options: { batchSize: 2, pollMs: 1000, retentionSeconds: 60 },
    sleep: async (ms) => {
      seen.pauses.push(ms);
      await new Promise((r) => setImmediate(r));
    },
  });
  return { relay, store, seen };
}
const keysAndVersions = (w: ReturnType<typeof world>) => w.bus.log.map((m) => `${m.key}:${m.headers!["x-product-version"]}`);

describe("relay", () => {
  test("publishes rows in id order in batches, keyed by product, and marks them only after the publish", async () => {
    const w = world();
    for (const id of ["a", "b"]) await w.execute({ type: "CreateProduct", id, fields: fields(1) });
    await w.execute({ type: "PatchProduct", id: "a", changes: { priceCents: 2 } });
    const publisher = w.bus.publisher();
    const publish = publisher.publish;
    publisher.publish = async (m) => {
      expect(w.db.outbox.filter((r) => r.sentAt !== null).length).toBe(w.bus.log.length); // nothing marked before the acknowledgement
      await publish(m);
    };
    const { relay, store } = relayOn(w, publisher);
    expect(await store.tryLead()).toBe(true);
    expect(await relay.pass()).toBe(2);
    expect(await relay.pass()).toBe(1);
    expect(await relay.pass()).toBe(0);
    expect(keysAndVersions(w)).toEqual(["a:1", "b:1", "a:2"]);
    expect(w.db.outbox.every((r) => r.sentAt !== null)).toBe(true);
  });

  test("after failed publishes it backs off 200, 400, 800, 1600, 3000, 3000 ms, then sends each row once, in order", async () => {
    const w = world();
    const { relay, seen } = relayOn(w);
    w.bus.failNext(6);
    for (let i = 1; i <= 3; i++) await w.execute({ type: "CreateProduct", id: `p${i}`, fields: fields(i) });
    const loop = relay.start();
    await w.bus.untilCount(3);
    expect(seen.pauses.filter((ms) => ms !== 1000)).toEqual([200, 400, 800, 1600, 3000, 3000]);
    expect(seen.errors).toBe(6);
    expect(keysAndVersions(w)).toEqual(["p1:1", "p2:1", "p3:1"]);
    await relay.stop();
    await loop;
  });

  test("a relay that lost the lock while it opened its producer publishes nothing", async () => {
    const w = world();
    await w.execute({ type: "CreateProduct", id: "a", fields: fields(1) });
    const publisher = w.bus.publisher();
    const { relay, store } = relayOn(w, publisher);
    expect(await store.tryLead()).toBe(true);
    const open = publisher.open;
    publisher.open = async () => {
      w.db.terminate(store.session); // the session died between the fetch and initTransactions
      return open();
    };
    await expect(relay.pass()).rejects.toBeInstanceOf(NotLeaderError);
    expect(w.bus.log).toEqual([]);
    expect(w.db.outbox[0]!.sentAt).toBeNull();
  });

  test("the standby leads when the leader dies; the old leader's producer is fenced and the topic keeps each product's order", async () => {
    const w = world();
    const publisherA = w.bus.publisher();
    const a = relayOn(w, publisherA);
    const b = relayOn(w);
    const loopA = a.relay.start();
    await until(() => a.seen.leader[0] === true, "relay a to lead");
    const loopB = b.relay.start();
    await until(() => b.seen.leader[0] === false, "relay b to stand by");
    await w.execute({ type: "CreateProduct", id: "p", fields: fields(1) });
    await w.bus.untilCount(1);
    await until(() => b.seen.pauses.length > 0, "relay b to poll as a standby");
    expect(b.seen.leader).toEqual([false]);

    // a dies (kill -9): its loop ends and its session with it, releasing the lock.
    const session = a.store.session;
    await a.relay.stop();
    await loopA;
    w.db.terminate(session);
    await w.execute({ type: "PatchProduct", id: "p", changes: { priceCents: 2 } });
    await w.execute({ type: "PatchProduct", id: "p", changes: { priceCents: 3 } });
    await w.bus.untilCount(3);
    expect(b.seen.leader).toEqual([false, true]);
    expect(keysAndVersions(w)).toEqual(["p:1", "p:2", "p:3"]);
    // A producer opened before b's (a's, had it survived) is fenced: the broker refuses it.
    await publisherA.open();
    const fresh = w.bus.publisher();
    await fresh.open();
    await expect(publisherA.publish([{ key: "p", value: "late" }])).rejects.toBeInstanceOf(FencedProducerError);
    await b.relay.stop();
    await loopB;
    expect(w.bus.log.map((m) => m.value)).not.toContain("late");
  });
});
