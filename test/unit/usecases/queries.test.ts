// The read path over the twins: the cross-process lease (exactly one database read for a cold key
// however many instances miss it at once), the fill's refusal of older data, and negative caching.
import { describe, expect, test } from "bun:test";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import { createQueries } from "../../../src/usecases/queries.ts";
import { counting, ctx, fields, logger, twins } from "./twins.ts";

async function seeded() {
  const t = twins();
  await createCommandExecutor({ store: t.store, writer: null, ctx })({ type: "CreateProduct", id: "hot", fields: fields(7) });
  return t;
}

describe("queries", () => {
  test("1,000 misses of one key from three instances sharing one cache: exactly one loadState", async () => {
    const t = await seeded();
    const { store, calls } = counting(t.store);
    // Three processes: each its own queries and its own cache adapter, on one cache server.
    const instances = [0, 1, 2].map(() => createQueries({ store, cache: t.cache(), logger, lease: { leaseMs: 2000, waitMs: 1000, pollMs: 1 } }));
    const reads = await Promise.all(Array.from({ length: 1000 }, (_, i) => instances[i % 3]!.getProduct("hot")));
    expect(calls.loadState).toBe(1);
    expect(new Set(reads.map((r) => (r.found ? r.version : -1)))).toEqual(new Set([1]));
    expect(reads.filter((r) => r.cache === "miss").length).toBeGreaterThanOrEqual(1);
  });

  test("without the lease (waitMs 0), each instance reads the database once: three reads", async () => {
    const t = await seeded();
    const { store, calls } = counting(t.store);
    const instances = [0, 1, 2].map(() => createQueries({ store, cache: t.cache(), logger, lease: { leaseMs: 2000, waitMs: 0 } }));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => instances[i % 3]!.getProduct("hot")));
    expect(calls.loadState).toBe(3);
  });

  test("a lease holder that finds nothing releases its waiters at once: one read for an unknown id", async () => {
    const t = twins();
    const { store, calls } = counting(t.store);
    const instances = [0, 1, 2].map(() => createQueries({ store, cache: t.cache(), logger, lease: { leaseMs: 2000, waitMs: 1000, pollMs: 1 } }));
    const reads = await Promise.all(Array.from({ length: 300 }, (_, i) => instances[i % 3]!.getProduct("never")));
    expect(calls.loadState).toBe(1);
    expect(reads.every((r) => !r.found)).toBe(true);
    expect(await t.cache().get("never")).toMatchObject({ version: 0, kind: "n" });
  });

  test("a fill read before a newer write is refused: the cache keeps the newer version", async () => {
    const t = await seeded();
    const cache = t.cache();
    // The read of version 1 takes its time: a write of version 2 and its write-through land first.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = { ...t.store, loadState: async (id: string) => {
      const s = await t.store.loadState(id);
      await held;
      return s;
    } };
    const queries = createQueries({ store: slow, cache, logger, lease: { leaseMs: 2000, waitMs: 0 } });
    const read = queries.getProduct("hot");
    await createCommandExecutor({ store: t.store, writer: null, ctx })({ type: "PatchProduct", id: "hot", changes: { priceCents: 8 } });
    await cache.put("hot", { version: 2, kind: "p", payload: "{}" }, cache.epoch()!);
    release();
    const answer = await read;
    expect(answer).toMatchObject({ found: true, version: 1, cache: "miss", stored: true }); // current when read; the cache holds newer
    expect(await cache.get("hot")).toMatchObject({ version: 2 });
  });

  test("with the cache server down, reads are served from the store and counted as fallbacks", async () => {
    const t = await seeded();
    const fallbacks: string[] = [];
    const queries = createQueries({ store: t.store, cache: t.cache(), logger, observe: { hit() {}, miss() {}, fill() {}, leaseWait() {}, dbRead() {}, fallback: (op) => fallbacks.push(op) } });
    t.server.down();
    expect(await queries.getProduct("hot")).toMatchObject({ found: true, version: 1, stored: false });
    expect(fallbacks).toEqual(["get", "lease", "release"]); // and no fill: the epoch was unknown
  });
});
