// The consumer's batch handler over the twins: its retry while the cache is away (the offset must
// not move past an event the cache does not hold), its shutdown, and the markers of events it
// cannot read. The pauses are recorded, not slept.
import { describe, expect, test } from "bun:test";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import { createEventConsumer, ShuttingDown, type RawMessage } from "../../../src/usecases/consume-event.ts";
import { ctx, fields, logger, twins } from "./twins.ts";

const encode = (s: string) => new TextEncoder().encode(s);

async function setup() {
  const t = twins();
  const execute = createCommandExecutor({ store: t.store, writer: null, ctx });
  await execute({ type: "CreateProduct", id: "a", fields: fields(1) });
  await execute({ type: "PatchProduct", id: "a", changes: { priceCents: 2 } });
  await execute({ type: "CreateProduct", id: "b", fields: fields(1) });
  // What the relay would publish: each outbox row, keyed by product.
  const messages: RawMessage[] = t.db.outbox.map((r, i) => ({ topic: "t", partition: 0, offset: String(i), key: encode(r.productId), value: encode(r.payload), headers: {} }));
  const seen = { applied: [] as string[], skippedOlder: 0, deadLettered: [] as string[], fencedUnreadable: [] as string[], cacheError: 0 };
  const observe = {
    applied: (_s: number, outcome: "stored" | "marked") => seen.applied.push(outcome),
    skippedOlder: () => seen.skippedOlder++,
    deadLettered: (r: string) => seen.deadLettered.push(r),
    fencedUnreadable: (r: string) => seen.fencedUnreadable.push(r),
    cacheError: () => seen.cacheError++,
  };
  return { t, messages, seen, observe };
}

describe("event consumer", () => {
  test("rebuild mode: while the cache is down the batch is retried with growing pauses, then applied in order", async () => {
    const { t, messages, seen, observe } = await setup();
    const cache = t.cache();
    await cache.put("a", { version: 1, kind: "p", payload: "{}" }, cache.epoch()!); // real data: the event's state may advance it
    const pauses: number[] = [];
    const consume = createEventConsumer({
      cache, mode: "rebuild", logger, observe, stopping: () => false, deadLetter: async () => {},
      sleep: async (ms) => {
        pauses.push(ms);
        if (pauses.length === 3) t.server.up();
      },
    });
    t.server.down();
    await consume(messages);
    expect(pauses).toEqual([50, 100, 150]);
    expect(seen.cacheError).toBe(3);
    // a v1: older than the cached v1 (equal), a v2: stored over real data, b v1: no entry, so a marker
    expect({ applied: seen.applied, skipped: seen.skippedOlder }).toEqual({ applied: ["stored", "marked"], skipped: 1 });
    expect(t.server.entries("catalog").get("a")).toMatchObject({ version: 2, kind: "p" });
    expect(t.server.entries("catalog").get("b")).toMatchObject({ version: 1, kind: "m" });
  });

  test("evict mode writes markers only, and a redelivery changes nothing", async () => {
    const { t, messages, seen, observe } = await setup();
    const consume = createEventConsumer({ cache: t.cache("storefront"), mode: "evict", logger, observe, stopping: () => false, deadLetter: async () => {} });
    await consume(messages);
    await consume(messages);
    expect(seen.applied).toEqual(["stored", "stored", "stored"]);
    expect(seen.skippedOlder).toBe(3);
    expect([...t.server.entries("storefront")].map(([id, e]) => [id, e.version, e.kind])).toEqual([["a", 2, "m"], ["b", 1, "m"]]);
  });

  test("once shutdown began, a failing batch is given up at once (it comes again after the restart)", async () => {
    const { t, messages, seen, observe } = await setup();
    const pauses: number[] = [];
    const consume = createEventConsumer({ cache: t.cache(), mode: "rebuild", logger, observe, stopping: () => true, deadLetter: async () => {}, sleep: async (ms) => void pauses.push(ms) });
    t.server.down();
    await expect(consume(messages)).rejects.toBeInstanceOf(ShuttingDown);
    expect({ pauses, errors: seen.cacheError, applied: seen.applied }).toEqual({ pauses: [], errors: 1, applied: [] });
  });

  test("a batch of only unreadable events (a newer schema) is dead-lettered and still fences the cache, retrying while it is down", async () => {
    const { t, seen, observe } = await setup();
    const future = { ...JSON.parse(t.db.outbox[1]!.payload), schemaVersion: 99 };
    const message: RawMessage = { topic: "t", partition: 0, offset: "9", key: encode("a"), value: encode(JSON.stringify(future)), headers: {} };
    const dead: string[] = [];
    let pauses = 0;
    const consume = createEventConsumer({
      cache: t.cache(), mode: "rebuild", logger, observe, stopping: () => false,
      deadLetter: async (_m, reason) => void dead.push(reason),
      sleep: async () => {
        if (++pauses === 2) t.server.up();
      },
    });
    t.server.down();
    await consume([message]);
    expect({ dead, fenced: seen.fencedUnreadable, errors: seen.cacheError }).toEqual({ dead: ["future-schema"], fenced: ["future-schema"], errors: 2 });
    expect(t.server.entries("catalog").get("a")).toMatchObject({ version: 2, kind: "m" });
  });
});
