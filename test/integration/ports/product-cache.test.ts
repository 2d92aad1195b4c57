// The ProductCache contract, run against the Redis adapter (the Lua scripts on a real Redis) and
// against its in-memory twin: the same calls, the same answers. A property test then drives both
// with the same random sequences and compares every outcome and every stored entry, so the twin
// keeps the Lua scripts' version rules (src/usecases/cache-rules.ts) and cannot drift from them.
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import type Redis from "ioredis";
import { createMemoryCache, createMemoryCacheServer } from "../../../src/infra/memory/memory-cache.ts";
import { createRedisCache, type RedisClient } from "../../../src/infra/redis-cache.ts";
import type { CacheEntry, ProductCache, StoredEntry } from "../../../src/usecases/ports.ts";
import { deleteClusterKeys, foreignFences, testRedisCluster } from "../../support/redis-cluster.ts";
import { deleteKeys, testRedis, uniquePrefix, waitFor } from "../../support/services.ts";

type Env = {
  /** A fresh namespace's adapter, its fence verified. */
  cache(): Promise<ProductCache>;
  /** Every entry and the fence gone, as after FLUSHALL. */
  loseData(cache: ProductCache): Promise<void>;
  /** The data kept but the fence no longer trusted (a restart, a failover). */
  restart(cache: ProductCache): Promise<void>;
};

const redis: Redis = testRedis();
const cluster = testRedisCluster();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) {
    await deleteKeys(redis, p);
    await deleteClusterKeys(cluster, p);
  }
  redis.disconnect();
  cluster.disconnect();
});

function redisEnvOn(client: RedisClient, loseAll: (prefix: string) => Promise<void>): Env {
  const prefixOf = (cache: ProductCache) => (cache as ProductCache & { prefix: string }).prefix;
  return {
    async cache() {
      const prefix = uniquePrefix("port");
      prefixes.push(prefix);
      // Batches of 3 entries per script call, so a putMany of a few entries spans several calls.
      const cache = createRedisCache(client, { keyPrefix: prefix, namespace: "ns", ttlSeconds: 600, putBatch: 3 });
      await cache.whenReady(5000);
      (cache as ProductCache & { prefix?: string }).prefix = prefix;
      return cache;
    },
    loseData: (cache) => loseAll(prefixOf(cache)),
    // What a restart or a failover that kept the data does to the fence (its run_id is another
    // server's), done to this namespace only.
    restart: (cache) => foreignFences(client, prefixOf(cache), "ns", client === cluster),
  };
}
const redisEnv = redisEnvOn(redis, (p) => deleteKeys(redis, p));
const clusterEnv = redisEnvOn(cluster, (p) => deleteClusterKeys(cluster, p));

const servers = new WeakMap<ProductCache, ReturnType<typeof createMemoryCacheServer>>();
const memoryEnv: Env = {
  async cache() {
    const server = createMemoryCacheServer();
    const cache = createMemoryCache(server, { namespace: "ns", ttlSeconds: 600 });
    servers.set(cache, server);
    return cache;
  },
  async loseData(cache) {
    servers.get(cache)!.loseData();
  },
  async restart(cache) {
    servers.get(cache)!.restart();
  },
};

const product = (version: number, name = `v${version}`): CacheEntry => ({ version, kind: "p", payload: JSON.stringify({ name, version }) });
const tomb = (version: number): CacheEntry => ({ version, kind: "t", payload: "" });
const plain = (e: StoredEntry | null) => (e ? { version: e.version, kind: e.kind, payload: e.payload } : null);

describe.each([
  ["redis (Lua)", redisEnv],
  ["redis cluster (Lua, a fence per bucket)", clusterEnv],
  ["in-memory twin", memoryEnv],
] as const)("ProductCache contract: %s", (_name, env) => {
  test("a newer version is stored, an older or equal one refused, and the entry carries the fence's epoch", async () => {
    const c = await env.cache();
    const e = c.epoch()!;
    expect(await c.put("a", product(2), e)).toEqual({ applied: true, version: 2, outcome: "stored" });
    expect(await c.put("a", product(1), e)).toEqual({ applied: false, version: 2, outcome: "older" });
    expect(await c.put("a", product(2, "other"), e)).toEqual({ applied: false, version: 2, outcome: "older" });
    expect(await c.get("a")).toEqual({ ...product(2), epoch: e });
    expect(await c.put("a", product(3), e)).toEqual({ applied: true, version: 3, outcome: "stored" });
    expect(plain(await c.get("a"))).toEqual(product(3));
  });

  test("a writer with another epoch than the fence's is fenced and writes nothing", async () => {
    const c = await env.cache();
    expect(await c.put("a", product(1), "not-the-epoch")).toEqual({ applied: false, version: 0, outcome: "fenced" });
    expect(await c.get("a")).toBeNull();
  });

  test("a tombstone blocks every older fill; a marker waits for its own version only", async () => {
    const c = await env.cache();
    const e = c.epoch()!;
    await c.put("a", tomb(3), e);
    expect((await c.put("a", product(2), e)).outcome).toBe("older");
    expect(plain(await c.get("a"))).toEqual(tomb(3));
    expect(await c.mark([{ id: "b", version: 5 }])).toEqual([{ applied: true, version: 5, outcome: "stored" }]);
    expect((await c.put("b", product(4), e)).outcome).toBe("older");
    expect(await c.put("b", product(5), e)).toEqual({ applied: true, version: 5, outcome: "stored" });
    expect(plain(await c.get("b"))).toEqual(product(5));
    expect((await c.mark([{ id: "b", version: 5 }]))[0]!.outcome).toBe("older"); // equal: a no-op
  });

  test("advance: over real data of this epoch it stores the state, over anything else only a marker", async () => {
    const c = await env.cache();
    const e = c.epoch()!;
    expect(await c.advance([{ id: "empty", entry: product(4) }])).toEqual([{ applied: true, version: 4, outcome: "marked" }]);
    expect(plain(await c.get("empty"))).toEqual({ version: 4, kind: "m", payload: "" });
    await c.put("real", product(1), e);
    expect((await c.advance([{ id: "real", entry: product(2) }]))[0]!.outcome).toBe("stored");
    expect(plain(await c.get("real"))).toEqual(product(2));
    expect((await c.advance([{ id: "real", entry: product(2) }]))[0]!.outcome).toBe("older"); // a redelivery
    expect((await c.advance([{ id: "empty", entry: product(5) }]))[0]!.outcome).toBe("marked"); // over a marker
  });

  test("no such product (version 0) is stored, and the create replaces it", async () => {
    const c = await env.cache();
    const e = c.epoch()!;
    expect((await c.put("x", { version: 0, kind: "n", payload: "" }, e)).outcome).toBe("stored");
    expect(plain(await c.get("x"))).toEqual({ version: 0, kind: "n", payload: "" });
    expect((await c.put("x", product(1), e)).outcome).toBe("stored");
  });

  test("getMany keeps the order and answers null for what is missing", async () => {
    const c = await env.cache();
    await c.putMany([{ id: "a", entry: product(1) }, { id: "c", entry: tomb(2) }], c.epoch()!);
    expect((await c.getMany(["c", "b", "a"])).map(plain)).toEqual([tomb(2), null, product(1)]);
  });

  test("replaceIfEqual replaces only what is still exactly the entry read, under the same epoch", async () => {
    const c = await env.cache();
    const e = c.epoch()!;
    await c.put("a", product(9, "tampered"), e);
    const read = (await c.get("a"))!;
    expect(await c.replaceIfEqual("a", read, product(2), "stale-epoch")).toBe("fenced");
    await c.put("b", product(1), e);
    const readB = (await c.get("b"))!;
    await c.put("b", product(2), e); // a write lands between the replay's read and its repair
    expect(await c.replaceIfEqual("b", readB, product(1, "repair"), e)).toBe("changed");
    expect(plain(await c.get("b"))).toEqual(product(2));
    expect(await c.replaceIfEqual("a", read, product(2), e)).toBe("replaced");
    expect(plain(await c.get("a"))).toEqual(product(2));
  });

  test("after a loss of data the fence moves: older writers are fenced, and a consumer's state goes in as a marker", async () => {
    const c = await env.cache();
    const before = c.epoch()!;
    const moves: [string, string | null][] = [];
    c.onEpochChange((epoch, previous) => moves.push([epoch, previous]));
    await c.put("a", product(3), before);
    await env.loseData(c);
    expect((await c.put("a", product(2), before)).outcome).toBe("fenced"); // read before the loss
    const after = await waitFor(() => (c.epoch() !== before ? c.epoch() : null), 5000, "a new epoch");
    expect(moves.at(-1)?.[0]).toBe(after);
    expect((await c.advance([{ id: "a", entry: product(2) }]))[0]!.outcome).toBe("marked");
    expect((await c.put("a", product(2), after)).outcome).toBe("stored"); // read after: fills
  });

  test("after a restart that kept the data, a fill of the same version re-stamps the entry with the new epoch", async () => {
    const c = await env.cache();
    const before = c.epoch()!;
    await c.put("a", product(2), before);
    await env.restart(c);
    expect((await c.put("a", product(2), before)).outcome).toBe("fenced");
    const after = await waitFor(() => (c.epoch() !== before ? c.epoch() : null), 5000, "a new epoch");
    expect((await c.get("a"))?.epoch).toBe(before); // kept, but no longer servable
    expect(await c.put("a", product(2), after)).toEqual({ applied: true, version: 2, outcome: "stored" });
    expect(await c.get("a")).toEqual({ ...product(2), epoch: after });
  });

  test("a lease has one holder; only the holder releases it", async () => {
    const c = await env.cache();
    expect(await c.acquireLease("a", "one", 5000)).toBe(true);
    expect(await c.acquireLease("a", "two", 5000)).toBe(false);
    await c.releaseLease("a", "two");
    expect(await c.acquireLease("a", "two", 5000)).toBe(false);
    await c.releaseLease("a", "one");
    expect(await c.acquireLease("a", "two", 5000)).toBe(true);
  });
});

describe("the twin and the Lua scripts, side by side", () => {
  type Op =
    | { op: "put"; id: string; entry: CacheEntry; stale: boolean }
    | { op: "putMany"; items: { id: string; entry: CacheEntry }[]; stale: boolean }
    | { op: "advance"; id: string; entry: CacheEntry }
    | { op: "mark"; id: string; version: number }
    | { op: "repair"; id: string; entry: CacheEntry }
    | { op: "restart" };
  const ids = ["a", "b", "c"];
  // Few versions, so equal versions (the subtle cases) come often.
  const event = fc.oneof(fc.integer({ min: 1, max: 4 }).map((v) => product(v)), fc.integer({ min: 1, max: 4 }).map(tomb));
  // "No such product" (version 0) is only ever filled ("set"); events have versions from 1.
  const entry = fc.oneof(event, fc.constant<CacheEntry>({ version: 0, kind: "n", payload: "" }));
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("put" as const), id: fc.constantFrom(...ids), entry, stale: fc.boolean() }),
    // A batch (cas-set-many-n.lua): ids repeat within it, outcomes mix, and it spans several calls.
    fc.record({
      op: fc.constant("putMany" as const),
      items: fc.array(fc.record({ id: fc.constantFrom(...ids), entry }), { minLength: 1, maxLength: 8 }),
      stale: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
    fc.record({ op: fc.constant("advance" as const), id: fc.constantFrom(...ids), entry: event }),
    fc.record({ op: fc.constant("mark" as const), id: fc.constantFrom(...ids), version: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ op: fc.constant("repair" as const), id: fc.constantFrom(...ids), entry }),
    fc.constant({ op: "restart" as const }),
  );

  async function run(env: Env, ops: Op[]) {
    const c = await env.cache();
    const trace: unknown[] = [];
    let e = c.epoch()!;
    for (const o of ops) {
      if (o.op === "restart") {
        // The fence moves; a write (to a key outside the trace) makes the adapter notice at once.
        await env.restart(c);
        trace.push((await c.put("zz", product(1), e)).outcome);
        const before = e;
        e = await waitFor(() => (c.epoch() !== before ? c.epoch() : null), 5000, "the new epoch");
      } else if (o.op === "put") trace.push((await c.put(o.id, o.entry, o.stale ? "stale" : e)).outcome);
      else if (o.op === "putMany") trace.push((await c.putMany(o.items, o.stale ? "stale" : e)).map((r) => [r.outcome, r.version, r.applied]));
      else if (o.op === "advance") trace.push((await c.advance([{ id: o.id, entry: o.entry }]))[0]!.outcome);
      else if (o.op === "mark") trace.push((await c.mark([{ id: o.id, version: o.version }]))[0]!.outcome);
      else {
        const read = await c.get(o.id);
        trace.push(read ? await c.replaceIfEqual(o.id, read, o.entry, e) : "nothing to repair");
      }
      // The epoch is each implementation's own name; what must agree is whether it is the fence's.
      trace.push((await c.getMany(ids)).map((s) => (s ? { ...plain(s), current: s.epoch === e } : null)));
    }
    return trace;
  }

  test("200 random sequences of writes and fence moves give the same outcomes and the same entries", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const [viaLua, viaTwin] = [await run(redisEnv, ops), await run(memoryEnv, ops)];
        expect(viaTwin).toEqual(viaLua);
      }),
      { numRuns: 200 },
    );
  }, 120_000);

  test("the same on a Redis Cluster, where each product's bucket has its own fence (50 sequences)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const [viaCluster, viaTwin] = [await run(clusterEnv, ops), await run(memoryEnv, ops)];
        expect(viaTwin).toEqual(viaCluster);
      }),
      { numRuns: 50 },
    );
  }, 120_000);
});
