// The near cache's rules, on the in-memory twin of the cache and a feed the test drives: what it
// answers, what a change message drops, what a read that raced a change may not keep, gaps, an
// unhealthy feed, staleness, the bounds, minVersion, and a fence move.
import { describe, expect, test } from "bun:test";
import { createMemoryCache, createMemoryCacheServer } from "../../../src/infra/memory/memory-cache.ts";
import { coalescedReads } from "../../../src/infra/coalesced-reads.ts";
import { withNearCache } from "../../../src/usecases/near-cache.ts";
import type { CacheEntry, ChangeFeed, ProductCache } from "../../../src/usecases/ports.ts";

const product = (version: number, name = `v${version}`): CacheEntry => ({ version, kind: "p", payload: JSON.stringify({ name, version }) });

function fakeFeed() {
  let listener: Parameters<ChangeFeed["listen"]>[0] | null = null;
  let healthy = true;
  const feed: ChangeFeed = {
    listen: (l) => void (listener = l),
    healthy: () => healthy,
    close: async () => {},
  };
  return {
    feed,
    change: (id: string, v: number, at?: { source: string; seq: number }) => listener!.change(id, v, at),
    gap: () => listener!.gap("test"),
    setHealthy: (h: boolean) => void (healthy = h),
  };
}

function setup(options: Partial<{ maxEntries: number; maxBytes: number; maxStalenessMs: number; readBarrier: boolean }> = {}) {
  const server = createMemoryCacheServer();
  const redis = createMemoryCache(server, { namespace: "ns", ttlSeconds: 600 });
  const other = createMemoryCache(server, { namespace: "ns", ttlSeconds: 600 }); // another process
  const f = fakeFeed();
  let clock = 0;
  const l1 = withNearCache(redis, f.feed, { maxEntries: 100, maxBytes: 1_000_000, maxStalenessMs: 1000, readBarrier: false, now: () => clock, ...options });
  return { server, redis, other, l1, ...f, tick: (ms: number) => void (clock += ms) };
}

describe("the near cache, answering at once (L1_READ_BARRIER=false)", () => {
  test("a read from Redis is kept; the next read is answered by L1 and says so", async () => {
    const { l1, other } = setup();
    await other.put("a", product(1), other.epoch()!);
    expect((await l1.get("a"))!.l1).toBeUndefined();
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
    expect(l1.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  test("a change message above the entry's version drops it; an older or equal one does not", async () => {
    const { l1, other, change } = setup();
    await other.put("a", product(2), other.epoch()!);
    await l1.get("a");
    change("a", 1); // a late, reordered message
    expect((await l1.get("a"))!.l1).toBe(true);
    await other.put("a", product(3), other.epoch()!);
    change("a", 3);
    expect(await l1.get("a")).toMatchObject({ version: 3 });
    expect((await l1.get("a"))!.l1).toBe(true);
  });

  test("a read that raced a newer change is not kept, so L1 never holds what the message already replaced", async () => {
    const { l1, redis, other, change } = setup();
    await other.put("a", product(1), other.epoch()!);
    // Redis answers version 1; before the answer is kept, version 2 is written and announced.
    const realGet = redis.get.bind(redis);
    redis.get = async (id, min) => {
      const e = await realGet(id, min);
      await other.put("a", product(2), other.epoch()!);
      change("a", 2);
      return e;
    };
    expect((await l1.get("a"))!.version).toBe(1); // what Redis said, once
    redis.get = realGet;
    expect(await l1.get("a")).toMatchObject({ version: 2 });
    expect((await l1.get("a"))!.l1).toBe(true);
  });

  test("this process's own write goes into L1 at once, whether its own message comes before or after the reply", async () => {
    const { l1, redis, change } = setup();
    const realPut = redis.put.bind(redis);
    redis.put = async (id, entry, epoch) => {
      const r = await realPut(id, entry, epoch);
      change(id, entry.version); // published by the script, heard before the reply
      return r;
    };
    expect((await l1.put("a", product(1), l1.epoch()!)).outcome).toBe("stored");
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
    redis.put = realPut;
    expect((await l1.put("a", product(2), l1.epoch()!)).outcome).toBe("stored");
    change("a", 2); // heard after the reply
    expect(await l1.get("a")).toMatchObject({ version: 2, l1: true });
  });

  test("a gap drops everything, and a read that began before it may not fill", async () => {
    const { l1, redis, other, gap } = setup();
    await other.putMany([{ id: "a", entry: product(1) }, { id: "b", entry: product(1) }], other.epoch()!);
    await l1.getMany(["a", "b"]);
    expect(l1.stats().entries).toBe(2);
    const realGet = redis.get.bind(redis);
    redis.get = async (id, min) => {
      const e = await realGet(id, min);
      gap();
      return e;
    };
    await l1.get("c");
    await other.put("c", product(1), other.epoch()!);
    redis.get = async (id, min) => {
      const e = await realGet(id, min);
      gap();
      return e;
    };
    await l1.get("c");
    expect(l1.stats()).toMatchObject({ entries: 0, gaps: 2 });
  });

  test("while the feed is unhealthy L1 is empty and bypassed; Redis answers", async () => {
    const { l1, other, setHealthy } = setup();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    setHealthy(false);
    await other.put("a", product(2), other.epoch()!); // its message is lost with the feed
    expect(await l1.get("a")).toMatchObject({ version: 2 });
    expect((await l1.get("a"))!.l1).toBeUndefined();
    expect(l1.stats().entries).toBe(0);
    setHealthy(true);
    await l1.get("a");
    expect(await l1.get("a")).toMatchObject({ version: 2, l1: true });
  });

  test("an entry older than the staleness bound is read again from Redis", async () => {
    const { l1, other, tick } = setup({ maxStalenessMs: 1000 });
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    await other.put("a", product(2), other.epoch()!); // its message never came
    tick(999);
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
    tick(2);
    expect(await l1.get("a")).toMatchObject({ version: 2 });
    expect((await l1.get("a"))!.l1).toBe(true);
  });

  test("minVersion passes over an L1 entry below it to Redis", async () => {
    const { l1, other } = setup();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    await other.put("a", product(2), other.epoch()!);
    expect(await l1.get("a", 2)).toMatchObject({ version: 2 });
    expect((await l1.get("a", 2))!.l1).toBe(true);
  });

  test("bounded by entries and by bytes, least recently used first", async () => {
    const { l1, other } = setup({ maxEntries: 3 });
    for (const id of ["a", "b", "c", "d"]) await other.put(id, product(1), other.epoch()!);
    for (const id of ["a", "b", "c"]) await l1.get(id);
    await l1.get("a"); // a is now the most recent
    await l1.get("d"); // evicts b
    expect(l1.stats().entries).toBe(3);
    expect((await l1.get("b"))!.l1).toBeUndefined();
    const small = setup({ maxBytes: 1000 });
    for (let i = 0; i < 20; i++) {
      await small.other.put(`k${i}`, product(1, "x".repeat(100)), small.other.epoch()!);
      await small.l1.get(`k${i}`);
    }
    expect(small.l1.stats().bytes).toBeLessThanOrEqual(1000);
    expect(small.l1.stats().entries).toBeGreaterThan(0);
  });

  test("a fence move (Redis lost data) empties L1", async () => {
    const { l1, other, server } = setup();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    server.loseData();
    await l1.put("z", product(1), l1.epoch()!); // fenced: the twin re-verifies and moves the epoch
    const moved = (l1 as ProductCache).epoch();
    expect(moved).not.toBeNull();
    expect(l1.stats().entries).toBe(0);
  });
});

describe("the near cache behind its read barrier (the default)", () => {
  // The twin's change sequence: every stored write counts one (as the scripts' INCR does).
  const barrier = () => setup({ readBarrier: true });

  test("an entry read from Redis answers from L1 while nothing changed under its fence", async () => {
    const { l1, other } = barrier();
    await other.put("a", product(1), other.epoch()!);
    expect((await l1.get("a"))!.l1).toBeUndefined();
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
    expect(l1.peek!("a")).toBeNull(); // never at once: every answer waits for the barrier
  });

  test("another instance's write whose message has not arrived: Redis answers, never the older L1 entry", async () => {
    const { l1, other } = barrier();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    await other.put("a", product(2), other.epoch()!); // its message is still on its way
    expect(await l1.get("a")).toMatchObject({ version: 2 });
    // The same interleaving without the barrier answers the older version: what the barrier is for.
    const fast = setup({ readBarrier: false });
    await fast.other.put("a", product(1), fast.other.epoch()!);
    await fast.l1.get("a");
    await fast.other.put("a", product(2), fast.other.epoch()!);
    expect(await fast.l1.get("a")).toMatchObject({ version: 1, l1: true });
  });

  test("changes of other entries that the feed delivered without a gap leave the entry answering", async () => {
    const { l1, other, change, server } = barrier();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a"); // stamped at seq 1
    await other.put("b", product(1), other.epoch()!);
    change("b", 1, { source: "ns", seq: 2 });
    await other.put("c", product(1), other.epoch()!);
    change("c", 1, { source: "ns", seq: 3 });
    expect(server.internal.seq("ns")).toBe(3);
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
  });

  test("a change the feed did not deliver (a hole in the run) sends the read to Redis", async () => {
    const { l1, other, change } = barrier();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a"); // seq 1
    await other.put("b", product(1), other.epoch()!); // seq 2: never heard
    await other.put("c", product(1), other.epoch()!);
    change("c", 1, { source: "ns", seq: 3 });
    expect((await l1.get("a"))!.l1).toBeUndefined();
    expect((await l1.get("a"))!.l1).toBe(true); // restamped at seq 3
  });

  test("a change that arrives while the barrier's read is on its way drops the entry: Redis answers", async () => {
    const { l1, redis, other, change } = barrier();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a");
    const realStamp = redis.stampOf!.bind(redis);
    redis.stampOf = async (id) => {
      const at = await realStamp(id);
      await other.put("a", product(2), other.epoch()!);
      change("a", 2, { source: "ns", seq: at.seq + 1 });
      return at;
    };
    expect(await l1.get("a")).toMatchObject({ version: 2 });
  });

  test("a fence move with the same count of changes (ABA) is not taken for 'nothing changed'", async () => {
    const { l1, other, server } = barrier();
    await other.put("a", product(1), other.epoch()!);
    await l1.get("a"); // seq 1 under the first fence
    server.loseData(); // a flush: the fence and the change count go too
    const fresh = createMemoryCache(server, { namespace: "ns", ttlSeconds: 600 });
    await fresh.put("a", product(2), fresh.epoch()!); // seq 1 again, under a new fence
    expect(server.internal.seq("ns")).toBe(1);
    expect(await l1.get("a")).toMatchObject({ version: 2 });
  });

  test("its own writes are not kept unstamped: the next read stamps them from Redis", async () => {
    const { l1 } = barrier();
    await l1.put("a", product(1), l1.epoch()!);
    expect((await l1.get("a"))!.l1).toBeUndefined();
    expect(await l1.get("a")).toMatchObject({ version: 1, l1: true });
  });
});

describe("coalesced reads (the barrier's shared read)", () => {
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

  test("callers of one turn share one read, sent after the last of them called; a later caller never joins a read already sent", async () => {
    const sent: { key: string; resolve: (v: number) => void }[] = [];
    const reads = coalescedReads((key: string) => new Promise<number>((resolve) => sent.push({ key, resolve })));
    const first = reads.next("k");
    const second = reads.next("k"); // the same turn: the same read
    const other = reads.next("j"); // another key: its own read
    expect(sent.length).toBe(0); // nothing is sent while the turn's callers may still call
    await turn();
    expect(sent.map((r) => r.key)).toEqual(["k", "j"]);
    const third = reads.next("k"); // read 1 of k is on its way: a read of its own
    await turn();
    expect(sent.map((r) => r.key)).toEqual(["k", "j", "k"]);
    sent[2]!.resolve(30); // replies may settle in any order; each caller gets its own read's
    sent[0]!.resolve(10);
    sent[1]!.resolve(20);
    expect([await first, await second, await other, await third]).toEqual([10, 10, 20, 30]);
  });

  test("a failed read fails its callers only; the next turn's callers get a read of their own", async () => {
    let n = 0;
    const reads = coalescedReads(async () => {
      n++;
      if (n === 1) throw new Error("lost");
      return n;
    });
    const a = reads.next("k");
    const b = reads.next("k");
    await expect(a).rejects.toThrow("lost");
    await expect(b).rejects.toThrow("lost");
    expect(await reads.next("k")).toBe(2);
  });

  test("a read that throws instead of rejecting fails its callers", async () => {
    const reads = coalescedReads((): Promise<number> => {
      throw new Error("not connected");
    });
    await expect(reads.next("k")).rejects.toThrow("not connected");
  });
});
