// Property tests of the compare-and-set script on the real Redis: for any sequence of writes in
// the three modes, interleaved with losses of Redis data (the fence moves, entries vanish), the
// script agrees step by step with a model of its rules; and concurrent writers end at the highest
// version.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { cacheKey, fenceKey } from "../../src/infra/cache-format.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { CacheEntry, StoredEntry, WriteOutcome } from "../../src/usecases/ports.ts";
import { deleteKeys, testRedis, uniquePrefix, waitFor } from "../support/services.ts";

const prefix = uniquePrefix("casprop");
const clients = [testRedis(), testRedis(), testRedis()];
const caches = clients.map((c) => createRedisCache(c, { keyPrefix: prefix, namespace: "p", ttlSeconds: 60 }));
beforeAll(async () => {
  for (const c of caches) expect(await c.whenReady(5000)).toBe(true);
});
afterAll(async () => {
  await deleteKeys(clients[0]!, prefix);
  clients.forEach((c) => c.disconnect());
});

const entryArb: fc.Arbitrary<CacheEntry> = fc
  .record({ version: fc.integer({ min: 1, max: 15 }), kind: fc.constantFrom("p", "t"), tag: fc.integer({ min: 0, max: 3 }) })
  .map(({ version, kind, tag }) => ({ version, kind: kind as CacheEntry["kind"], payload: kind === "p" ? `{"v":${version},"tag":${tag}}` : "" }));

type Op =
  | { op: "set"; entry: CacheEntry; staleEpoch: boolean }
  | { op: "advance"; entry: CacheEntry }
  | { op: "mark"; version: number }
  | { op: "lose"; entry: boolean }; // Redis lost data: the fence moves; the entry is gone too, or survives (a replica)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("set" as const), entry: entryArb, staleEpoch: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("advance" as const), entry: entryArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("mark" as const), version: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("lose" as const), entry: fc.boolean() }) },
);

/** The rules of cas-set-3.lua, as a pure function of the stored entry and the fence's epoch. */
function model(current: StoredEntry | null, fence: string, mode: "set" | "advance" | "mark", next: CacheEntry, writerEpoch: string): { entry: StoredEntry | null; outcome: WriteOutcome } {
  if (mode === "set" && writerEpoch !== fence) return { entry: current, outcome: "fenced" };
  const wanted: CacheEntry = mode === "mark" ? { version: next.version, kind: "m", payload: "" } : next;
  if (current) {
    if (current.version > wanted.version) return { entry: current, outcome: "older" };
    if (current.version === wanted.version && !(mode === "set" && (current.kind === "m" || current.epoch !== fence))) return { entry: current, outcome: "older" };
  }
  if (mode === "advance" && !(current && current.kind !== "m" && current.epoch === fence)) {
    return { entry: { version: wanted.version, kind: "m", payload: "", epoch: fence }, outcome: "marked" };
  }
  return { entry: { ...wanted, epoch: fence }, outcome: "stored" };
}

let n = 0;
describe("compare-and-set, for any sequence of writes and losses", () => {
  test("applied one by one, it agrees with the model at every step", async () => {
    const cache = caches[0]!;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const id = `seq${++n}`;
        let expected: StoredEntry | null = null;
        let previousEpoch = "none";
        for (const o of ops) {
          const fence = cache.epoch()!;
          if (o.op === "lose") {
            if (o.entry) await clients[0]!.del(cacheKey(prefix, "p", id));
            await clients[0]!.del(fenceKey(prefix, "p"));
            await cache.mark([{ id: "probe", version: 1 }]); // sees no fence: the adapter verifies and arms a new one
            await waitFor(() => cache.epoch() !== null && cache.epoch() !== fence, 5000, "a new epoch");
            previousEpoch = fence;
            if (o.entry) expected = null;
            continue;
          }
          const writerEpoch = o.op === "set" && o.staleEpoch ? previousEpoch : fence;
          const [result] =
            o.op === "set" ? [await cache.put(id, o.entry, writerEpoch)] : o.op === "advance" ? await cache.advance([{ id, entry: o.entry }]) : await cache.mark([{ id, version: o.version }]);
          const next = model(expected, fence, o.op, o.op === "mark" ? { version: o.version, kind: "m", payload: "" } : o.entry, writerEpoch);
          expect(result!.outcome).toBe(next.outcome);
          expected = next.entry;
          expect(await cache.get(id)).toEqual(expected);
        }
      }),
      { numRuns: 120 },
    );
  });

  test("sent concurrently from three clients under one epoch, it ends at the highest version, with data over a marker", async () => {
    const epoch = caches[0]!.epoch()!;
    await waitFor(() => caches.every((c) => c.epoch() === epoch), 5000, "every client on one epoch");
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(entryArb, fc.boolean()), { minLength: 1, maxLength: 40 }), async (writes) => {
        const id = `conc${++n}`;
        await Promise.all(writes.map(([e, asMarker], i) => (asMarker ? caches[i % 3]!.mark([{ id, version: e.version }]) : caches[i % 3]!.put(id, e, epoch))));
        const final = (await caches[0]!.get(id))!;
        const max = Math.max(...writes.map(([e]) => e.version));
        expect(final.version).toBe(max);
        const dataAtMax = writes.some(([e, asMarker]) => e.version === max && !asMarker);
        expect(final.kind === "m").toBe(!dataAtMax);
        if (dataAtMax) expect(writes.some(([e, asMarker]) => !asMarker && e.version === final.version && e.kind === final.kind && e.payload === final.payload)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
