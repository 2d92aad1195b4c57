// Property tests of the compare-and-set scripts on the real Redis: for any sequence of writes in
// the three modes, interleaved with losses of Redis data (the fence moves, entries vanish), the
// scripts agree step by step with a model of their rules (cas-set-3.lua one entry at a time;
// cas-set-many-n.lua in batches, ids repeated, outcomes mixed, each batch split over calls); a
// batch announces each change with consecutive sequence numbers; and concurrent writers end at
// the highest version.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { cacheKey, fenceKey } from "../../src/infra/cache-format.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { CacheEntry, StoredEntry, WriteOutcome } from "../../src/usecases/ports.ts";
import { deleteKeys, testRedis, uniquePrefix, waitFor } from "../support/services.ts";

const prefix = uniquePrefix("casprop");
const clients = [testRedis(), testRedis(), testRedis()];
const caches = clients.map((c) => createRedisCache(c, { keyPrefix: prefix, namespace: "p", ttlSeconds: 60 }));
// Namespace "b": putMany in calls of 3 entries, so most batches span several script calls.
const batched = createRedisCache(clients[0]!, { keyPrefix: prefix, namespace: "b", ttlSeconds: 60, putBatch: 3 });
beforeAll(async () => {
  for (const c of [...caches, batched]) expect(await c.whenReady(5000)).toBe(true);
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

/** What the key holds after a result, as the scripts answer it: 0 when fenced. */
const versionAfter = (outcome: WriteOutcome, before: StoredEntry | null, entry: CacheEntry) =>
  outcome === "fenced" ? 0 : outcome === "older" ? before!.version : entry.version;

type BatchOp =
  | { op: "batch"; items: { id: string; entry: CacheEntry }[]; staleEpoch: boolean }
  | { op: "advance"; id: string; entry: CacheEntry }
  | { op: "mark"; id: string; version: number }
  | { op: "lose"; entry: boolean };
const batchIds = ["x", "y", "z"];
const batchOpArb: fc.Arbitrary<BatchOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("batch" as const),
      items: fc.array(fc.record({ id: fc.constantFrom(...batchIds), entry: entryArb }), { minLength: 1, maxLength: 10 }),
      staleEpoch: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("advance" as const), id: fc.constantFrom(...batchIds), entry: entryArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("mark" as const), id: fc.constantFrom(...batchIds), version: fc.integer({ min: 1, max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("lose" as const), entry: fc.boolean() }) },
);

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

  test("in batches (putMany: cas-set-many-n.lua, 3 entries a call), ids repeated and outcomes mixed, it agrees with the model entry by entry", async () => {
    const cache = batched;
    await fc.assert(
      fc.asyncProperty(fc.array(batchOpArb, { minLength: 1, maxLength: 15 }), async (ops) => {
        const run = ++n;
        const key = (id: string) => `${id}${run}`;
        const expected = new Map<string, StoredEntry | null>(batchIds.map((id) => [id, null]));
        let previousEpoch = "none";
        for (const o of ops) {
          const fence = cache.epoch()!;
          if (o.op === "lose") {
            if (o.entry) for (const id of batchIds) (await clients[0]!.del(cacheKey(prefix, "b", key(id))), expected.set(id, null));
            await clients[0]!.del(fenceKey(prefix, "b"));
            await cache.mark([{ id: "probe", version: 1 }]);
            await waitFor(() => cache.epoch() !== null && cache.epoch() !== fence, 5000, "a new epoch");
            previousEpoch = fence;
            continue;
          }
          if (o.op === "batch") {
            const writerEpoch = o.staleEpoch ? previousEpoch : fence;
            const results = await cache.putMany(o.items.map(({ id, entry }) => ({ id: key(id), entry })), writerEpoch);
            const want = o.items.map(({ id, entry }) => {
              const before = expected.get(id)!;
              const next = model(before, fence, "set", entry, writerEpoch);
              expected.set(id, next.entry);
              return { applied: next.outcome === "stored", version: versionAfter(next.outcome, before, entry), outcome: next.outcome };
            });
            expect(results).toEqual(want);
          } else {
            const entry: CacheEntry = o.op === "mark" ? { version: o.version, kind: "m", payload: "" } : o.entry;
            const [result] = o.op === "advance" ? await cache.advance([{ id: key(o.id), entry }]) : await cache.mark([{ id: key(o.id), version: o.version }]);
            const next = model(expected.get(o.id)!, fence, o.op, entry, "");
            expect(result!.outcome).toBe(next.outcome);
            expected.set(o.id, next.entry);
          }
          expect(await cache.getMany(batchIds.map(key))).toEqual(batchIds.map((id) => expected.get(id)!));
        }
      }),
      { numRuns: 100 },
    );
  });

  test("a batch announces every change it made, in order, with consecutive sequence numbers, and nothing else", async () => {
    const sub = testRedis();
    const messages: string[] = [];
    const channel = `${prefix}:b:changes`;
    await sub.subscribe(channel);
    sub.on("message", (_c, m) => messages.push(m));
    const epoch = batched.epoch()!;
    const seqKey = `${fenceKey(prefix, "b")}:seq`;
    await batched.putMany([{ id: "s1", entry: { version: 5, kind: "p", payload: "{}" } }], epoch);
    await waitFor(() => messages.length === 1, 5000, "the first change");
    const start = Number(messages[0]!.split("|")[1]);
    // s1 is at 5: its older write is refused; s2 goes 1 then 2; s3 is a tombstone; 7 entries over 3 calls.
    const items: { id: string; entry: CacheEntry }[] = [
      { id: "s1", entry: { version: 4, kind: "p", payload: "{}" } },
      { id: "s2", entry: { version: 1, kind: "p", payload: "{}" } },
      { id: "s2", entry: { version: 2, kind: "p", payload: "{}" } },
      { id: "s2", entry: { version: 2, kind: "p", payload: "{}" } },
      { id: "s3", entry: { version: 3, kind: "t", payload: "" } },
      { id: "s1", entry: { version: 6, kind: "p", payload: "{}" } },
      { id: "s4", entry: { version: 0, kind: "n", payload: "" } },
    ];
    const results = await batched.putMany(items, epoch);
    expect(results.map((r) => r.outcome)).toEqual(["older", "stored", "stored", "older", "stored", "stored", "stored"]);
    await waitFor(() => messages.length === 6, 5000, "five more changes");
    await Bun.sleep(50);
    const k = (id: string) => cacheKey(prefix, "b", id);
    expect(messages.slice(1)).toEqual([
      `${seqKey}|${start + 1}|1|p|${k("s2")}`,
      `${seqKey}|${start + 2}|2|p|${k("s2")}`,
      `${seqKey}|${start + 3}|3|t|${k("s3")}`,
      `${seqKey}|${start + 4}|6|p|${k("s1")}`,
      `${seqKey}|${start + 5}|0|n|${k("s4")}`,
    ]);
    expect(Number(await clients[0]!.get(seqKey))).toBe(start + 5);
    expect(await clients[0]!.pttl(k("s4"))).toBeLessThanOrEqual(30_000); // the negative TTL for "n"
    expect(await clients[0]!.pttl(k("s3"))).toBeGreaterThan(30_000);
    sub.disconnect();
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
