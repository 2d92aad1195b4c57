// The cache on a Redis Cluster, where it differs from one server: a namespace's fences live in 128
// buckets spread over the masters; a slot may move while the cache is used (MOVED, ASK, TRYAGAIN);
// a master may die with writes its replica never got. The contracts themselves run on the cluster
// in ports/product-cache.test.ts and http-cluster.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { CLUSTER_BUCKETS, compareEpochs, decodeFence, keyLayout } from "../../src/infra/cache-format.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { CacheEntry, ProductCache } from "../../src/usecases/ports.ts";
import { createHarness } from "../support/harness.ts";
import { deleteClusterKeys, redisClusterScript, testRedisCluster } from "../support/redis-cluster.ts";
import { uniquePrefix, waitFor } from "../support/services.ts";

const cluster = testRedisCluster();
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await deleteClusterKeys(cluster, p);
  cluster.disconnect();
});

const product = (version: number): CacheEntry => ({ version, kind: "p", payload: JSON.stringify({ version }) });

async function freshCache(fenceCheckMs = 60_000): Promise<{ cache: ProductCache; prefix: string }> {
  const prefix = uniquePrefix("rc");
  prefixes.push(prefix);
  const cache = createRedisCache(cluster, { keyPrefix: prefix, namespace: "ns", ttlSeconds: 600, fenceCheckMs });
  expect(await cache.whenReady(5000)).toBe(true);
  return { cache, prefix };
}

/** An id of each bucket, found by trying names (buckets are a hash of the id). */
function idsByBucket(prefix: string) {
  const layout = keyLayout(prefix, "ns", true);
  const byBucket = new Map<number, string>();
  for (let i = 0; byBucket.size < CLUSTER_BUCKETS; i++) if (!byBucket.has(layout.bucketOf(`p${i}`))) byBucket.set(layout.bucketOf(`p${i}`), `p${i}`);
  return { layout, byBucket };
}

type NodeInfo = { id: string; port: number };
async function nodeOwning(slot: number): Promise<NodeInfo> {
  const slots = (await cluster.cluster("SLOTS")) as unknown as [number, number, [string, number, string]][];
  const range = slots.find(([from, to]) => slot >= from && slot <= to)!;
  return { port: range[2][1], id: range[2][2] };
}
async function masters(): Promise<NodeInfo[]> {
  const slots = (await cluster.cluster("SLOTS")) as unknown as [number, number, [string, number, string]][];
  const seen = new Map<string, NodeInfo>();
  for (const [, , [, port, id]] of slots) seen.set(id, { id, port });
  return [...seen.values()];
}
const direct = (port: number) => cluster.nodes("all").find((n) => n.options.port === port)!;

describe("a namespace's fences on a Redis Cluster", () => {
  test("the fences of every bucket hold one epoch, and the buckets spread over every master", async () => {
    const { cache, prefix } = await freshCache();
    const layout = keyLayout(prefix, "ns", true);
    const values = await Promise.all(layout.fences.map((f) => cluster.get(f)));
    expect(new Set(values.map((v) => decodeFence(v)?.epoch))).toEqual(new Set([cache.epoch()!]));
    const owners = new Set<number>();
    for (const f of layout.fences) owners.add((await nodeOwning(Number(await cluster.cluster("KEYSLOT", f)))).port);
    expect(owners.size).toBe((await masters()).length);
  });

  test("when one bucket loses its fence, the new epoch is above every epoch any fence held, however the clocks disagree", async () => {
    const { cache, prefix } = await freshCache();
    const { layout, byBucket } = idsByBucket(prefix);
    // Every fence at an epoch far in the future (a server with a fast clock armed it), each with its
    // own node's run_id, so trusted; a new process learns it.
    const future = "zzzzzzzzzz";
    for (const f of layout.fences) {
      const slot = Number(await cluster.cluster("KEYSLOT", f));
      const info = (await direct((await nodeOwning(slot)).port).info("server")) as string;
      await cluster.set(f, `${future}|${/run_id:([0-9a-f]+)/.exec(info)![1]}`);
    }
    const other = testRedisCluster(); // another process
    afterAll(() => other.disconnect());
    const late = createRedisCache(other, { keyPrefix: prefix, namespace: "ns", ttlSeconds: 600, fenceCheckMs: 60_000 });
    expect(await late.whenReady(5000)).toBe(true);
    expect(late.epoch()).toBe(future);
    const [inLost, elsewhere] = [byBucket.get(7)!, byBucket.get(8)!];
    expect(await late.put(inLost, product(1), future)).toMatchObject({ outcome: "stored" });
    expect(await late.put(elsewhere, product(1), future)).toMatchObject({ outcome: "stored" });
    // Bucket 7 loses everything (its fence and its entry); the other buckets keep the future epoch.
    await cluster.del(layout.fences[7]!, layout.entry(inLost));
    // A writer that learnt the future epoch before the loss is refused in the lost bucket: a fresh
    // epoch from the server's clock would be below the others, and raising the lost bucket to
    // theirs would let it through.
    expect((await late.put(inLost, product(1), future)).outcome).toBe("fenced");
    const moved = await waitFor(() => (late.epoch() !== future ? late.epoch() : null), 5000, "the new epoch");
    expect(compareEpochs(moved, future)).toBeGreaterThan(0);
    expect((await late.put(inLost, product(1), future)).outcome).toBe("fenced");
    // Every bucket was raised: what was stored before under the old epoch is no longer servable.
    expect((await late.get(elsewhere))!.epoch).toBe(future);
    expect(new Set((await Promise.all(layout.fences.map((f) => cluster.get(f)))).map((v) => decodeFence(v)!.epoch))).toEqual(new Set([moved]));
    // The first cache learns it too, at its next verification (a fenced write triggers one).
    expect((await cache.put(inLost, product(1), cache.epoch()!)).outcome).toBe("fenced");
    await waitFor(() => cache.epoch() === moved, 5000, "the first cache's epoch");
  });

  test("getMany reads ids of every bucket (one MGET per slot) in order", async () => {
    const { cache } = await freshCache();
    const ids = Array.from({ length: 500 }, (_, i) => `many-${i}`);
    const e = cache.epoch()!;
    await cache.putMany(
      ids.filter((_, i) => i % 3 !== 0).map((id, i) => ({ id, entry: product(i + 1) })),
      e,
    );
    const got = await cache.getMany(ids);
    let n = 0;
    expect(got.map((g, i) => (i % 3 === 0 ? g : g?.version))).toEqual(ids.map((_, i) => (i % 3 === 0 ? null : ++n)));
  });
});

describe("a slot moving between masters while the cache is used", () => {
  test("ASK, TRYAGAIN and MOVED are followed; versions never go back; the moved fence is re-armed like a lost one", async () => {
    const { cache, prefix } = await freshCache();
    const { layout, byBucket } = idsByBucket(prefix);
    const id = byBucket.get(3)!;
    const fence = layout.fences[3]!;
    const slot = Number(await cluster.cluster("KEYSLOT", fence));
    const source = await nodeOwning(slot);
    const target = (await masters()).find((m) => m.id !== source.id)!;
    const before = cache.epoch()!;
    expect(await cache.put(id, product(1), before)).toMatchObject({ outcome: "stored" });
    const seen: number[] = [];
    const record = async () => {
      const e = await cache.get(id);
      if (e) seen.push(e.version);
    };

    await direct(target.port).cluster("SETSLOT", slot, "IMPORTING", source.id);
    await direct(source.port).cluster("SETSLOT", slot, "MIGRATING", target.id);
    try {
      // The fence moves first and the entry stays: a script needing both gets TRYAGAIN until the
      // entry follows. The write waits in the client's retries and lands on the target.
      await direct(source.port).migrate("127.0.0.1", target.port, "", 0, 5000, "KEYS", fence);
      const tryAgain = async () => Number(/errorstat_TRYAGAIN:count=(\d+)/.exec((await direct(source.port).info("errorstats")) as string)?.[1] ?? 0);
      const refusedBefore = await tryAgain();
      const pending = cache.advance([{ id, entry: product(2) }]);
      await waitFor(async () => (await tryAgain()) > refusedBefore, 300, "the source to answer TRYAGAIN");
      const keys = (await direct(source.port).cluster("GETKEYSINSLOT", slot, 1000)) as string[];
      if (keys.length) await direct(source.port).migrate("127.0.0.1", target.port, "", 0, 5000, "KEYS", ...keys);
      expect((await pending)[0]!.outcome).toBe("stored");
      await record();
      // Everything of the slot is on the target now: reads and writes get ASK and follow it.
      expect((await cache.mark([{ id, version: 3 }]))[0]!.outcome).toBe("stored");
      await record();
    } finally {
      for (const m of await masters()) await direct(m.port).cluster("SETSLOT", slot, "NODE", target.id);
    }
    // The slot belongs to the target: MOVED for a client that still routes it to the source.
    // The fence there was armed on the source's process, so a "set" is refused and the namespace
    // moves to a new epoch (a moved slot cannot be told from a replica that lost writes).
    expect((await cache.put(id, product(4), before)).outcome).toBe("fenced");
    const after = await waitFor(() => (cache.epoch() !== before && cache.epoch() !== null ? cache.epoch() : null), 5000, "a new epoch");
    expect(await cache.put(id, product(4), after)).toMatchObject({ outcome: "stored" });
    await record();
    expect(seen).toEqual([2, 3, 4]);
    expect((await nodeOwning(slot)).id).toBe(target.id);
  });
});

describe("a master killed with writes its replica never received", () => {
  test("the replica is promoted, the api goes on writing, and the lost write is never served as the truth", async () => {
    // The periodic check is off (a minute): only the node's lost connection can tell this process.
    // The near cache is on (with its read barrier): its feed must subscribe again after the node left.
    const h = createHarness("rckill", { cluster: true, fenceCheckMs: 60_000, l1: { heartbeatMs: 200 } });
    try {
      const p = await h.create();
      expect((await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 2 } })).status).toBe(200);
      const slot = Number(await cluster.cluster("KEYSLOT", h.key(p.id)));
      const master = await nodeOwning(slot);
      const replicaPort = Number(redisClusterScript("replica-of", String(master.port)));
      await direct(master.port).call("WAIT", "1", "2000"); // version 2 is on the replica
      const epochBefore = h.cache.epoch();
      const runDir = process.env.REDIS_CLUSTER_DIR ?? `${new URL("../..", import.meta.url).pathname}.run/redis-cluster`;
      const replicaPid = Number(await Bun.file(`${runDir}/${replicaPort}/redis.pid`).text());
      // The replica stops, and the master drops its link, so nothing more reaches it.
      process.kill(replicaPid, "SIGSTOP");
      try {
        await direct(master.port).call("CLIENT", "KILL", "TYPE", "replica");
        // Version 3 reaches the master's cache entry (write-through) but never the replica.
        expect((await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 3 } })).status).toBe(200);
        expect(await h.cached(p.id)).toStartWith("3|p|");
        redisClusterScript("kill", String(master.port));
      } finally {
        process.kill(replicaPid, "SIGCONT");
      }
      // Until the replica takes over, reads come from PostgreSQL; never version 2.
      const versions: number[] = [];
      await waitFor(
        async () => {
          const r = await h.call("GET", `/products/${p.id}`);
          expect(r.status).toBe(200);
          versions.push(r.body.version);
          return r.headers.get("x-cache") === "hit";
        },
        30_000,
        "a cache hit after the failover",
      );
      expect(new Set(versions)).toEqual(new Set([3]));
      expect((await nodeOwning(slot)).port).toBe(replicaPort);
      expect(h.cache.epoch()).not.toBe(epochBefore);
      // Writes continue on the promoted replica.
      const w = await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 4 } });
      expect(w.status).toBe(200);
      expect(await h.cached(p.id)).toStartWith("4|p|");
      // The change feed subscribed again after the node left (a Cluster client says "ready" only
      // once), so the near cache answers again.
      await waitFor(
        async () => (await h.call("GET", `/products/${p.id}`)).headers.get("cache-status") === "catalog-cache; hit; detail=l1",
        10_000,
        "the near cache to answer again after the failover",
      );
      expect((await h.call("GET", `/products/${p.id}`)).body.version).toBe(4);
    } finally {
      await h.close();
      // The killed node comes back empty and joins as a replica.
      for (const port of [7000, 7001, 7002, 7003, 7004, 7005]) redisClusterScript("start-node", String(port));
      redisClusterScript("wait", "60");
    }
  }, 60_000);
});
