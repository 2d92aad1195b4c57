// Contract of lua/cas-set-3.lua and lua/fence-1.lua against the real Redis: versions only move
// forward; a "set" lands only under the fence epoch its writer learnt; a consumer's state lands
// only over real data of the current epoch; a moved fence retires every entry written before.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Redis from "ioredis";
import { decodeEntry, decodeFence, encodeEntry, fenceKey } from "../../src/infra/cache-format.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import { isServable } from "../../src/usecases/cache-entry.ts";
import type { CacheEntry } from "../../src/usecases/ports.ts";
import { deleteKeys, TEST_REDIS_URL, testRedis, uniquePrefix, waitFor } from "../support/services.ts";

const redis = testRedis();
const prefix = uniquePrefix("cas");
const cache = createRedisCache(redis, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 });
let epoch = "";
let n = 0;
const newId = () => `k${++n}`;
const key = (id: string) => `${prefix}:catalog:product:{${id}}`;
const product = (version: number): CacheEntry => ({ version, kind: "p", payload: JSON.stringify({ version }) });
const tombstone = (version: number): CacheEntry => ({ version, kind: "t", payload: "" });
const stored = (e: CacheEntry, at = epoch) => ({ ...e, epoch: at });
const ok = (version: number) => ({ applied: true, version, outcome: "stored" as const });
const older = (version: number) => ({ applied: false, version, outcome: "older" as const });

beforeAll(async () => {
  expect(await cache.whenReady(5000)).toBe(true);
  epoch = cache.epoch()!;
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

/** Moves the fence as a loss of Redis data would, and waits until the adapter has learnt it. */
async function moveFence(how: "delete" | "other-server") {
  const before = cache.epoch();
  if (how === "delete") await redis.del(fenceKey(prefix, "catalog"));
  else await redis.set(fenceKey(prefix, "catalog"), `${before}|0123456789abcdef0123456789abcdef01234567`); // armed on another server
  await cache.mark([{ id: "fence-probe", version: 1 }]); // a write sees the moved fence and makes the adapter verify
  epoch = await waitFor(() => (cache.epoch() !== before ? cache.epoch() : null), 5000, "the adapter to learn the new epoch");
  return { before: before!, after: epoch };
}

describe("set: fills, write-throughs and replays", () => {
  test("when an older version arrives after a newer one, the cache keeps the newer one", async () => {
    const id = newId();
    expect(await cache.put(id, product(5), epoch)).toEqual(ok(5));
    expect(await cache.put(id, product(4), epoch)).toEqual(older(5));
    expect(await cache.get(id)).toEqual(stored(product(5)));
  });

  test("an equal version is a no-op: the first value stays", async () => {
    const id = newId();
    await cache.put(id, product(3), epoch);
    expect(await cache.put(id, { version: 3, kind: "p", payload: '{"other":true}' }, epoch)).toEqual(older(3));
    expect(await cache.get(id)).toEqual(stored(product(3)));
  });

  test("a tombstone blocks any older fill, so a deleted product never comes back", async () => {
    const id = newId();
    await cache.put(id, product(1), epoch);
    await cache.put(id, tombstone(2), epoch);
    expect(await cache.put(id, product(1), epoch)).toEqual(older(2));
    expect(await cache.get(id)).toEqual(stored(tombstone(2)));
  });

  test("a marker refuses older fills but lets the fill of its own version in", async () => {
    const id = newId();
    await cache.mark([{ id, version: 4 }]);
    expect(await cache.put(id, product(3), epoch)).toEqual(older(4));
    expect(await cache.put(id, product(4), epoch)).toEqual(ok(4));
    expect(await cache.mark([{ id, version: 4 }])).toEqual([older(4)]);
    expect(await cache.get(id)).toEqual(stored(product(4)));
  });

  test("a value that does not parse is overwritten by a fill", async () => {
    const id = newId();
    await redis.set(key(id), "garbage");
    expect(await cache.get(id)).toBeNull();
    expect(await cache.put(id, product(1), epoch)).toEqual(ok(1));
  });

  test("entries get the configured TTL", async () => {
    const id = newId();
    await cache.put(id, product(1), epoch);
    const ttl = await redis.pttl(key(id));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  test("a writer whose epoch is not the fence's is refused and writes nothing", async () => {
    const id = newId();
    expect(await cache.put(id, product(7), "zzz")).toEqual({ applied: false, version: 0, outcome: "fenced" });
    expect(await redis.get(key(id))).toBeNull();
  });

  test("200 concurrent fills of mixed versions leave the highest", async () => {
    const id = newId();
    const versions = Array.from({ length: 200 }, (_, i) => ((i * 7919) % 200) + 1); // a permutation of 1..200
    const clients = Array.from({ length: 4 }, () => testRedis());
    const caches = clients.map((c) => createRedisCache(c, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 }));
    await Promise.all(caches.map((c) => c.whenReady(5000)));
    const results = await Promise.all(versions.map((v, i) => caches[i % caches.length]!.put(id, product(v), epoch)));
    clients.forEach((c) => c.disconnect());
    expect(await cache.get(id)).toEqual(stored(product(200)));
    // A write was refused only because the key already held its version or a newer one.
    const wrong = results.filter((r, i) => (r.applied ? r.version !== versions[i] : r.version < versions[i]!));
    expect(wrong).toEqual([]);
    expect(results[versions.indexOf(200)]).toEqual(ok(200));
  });
});

describe("advance: a consumer's states", () => {
  test("advance real data of the current epoch", async () => {
    const id = newId();
    await cache.put(id, product(2), epoch);
    expect(await cache.advance([{ id, entry: product(3) }, { id, entry: tombstone(4) }])).toEqual([ok(3), ok(4)]);
    expect(await cache.get(id)).toEqual(stored(tombstone(4)));
    expect(await cache.advance([{ id, entry: product(4) }, { id, entry: product(2) }])).toEqual([older(4), older(4)]);
  });

  test("go in as a marker where the key is empty: a backlog's state may be older than the truth", async () => {
    const id = newId();
    expect(await cache.advance([{ id, entry: product(9) }])).toEqual([{ applied: true, version: 9, outcome: "marked" }]);
    expect(await cache.get(id)).toEqual(stored({ version: 9, kind: "m", payload: "" }));
    // and over a marker, only as a higher marker
    expect(await cache.advance([{ id, entry: product(10) }])).toEqual([{ applied: true, version: 10, outcome: "marked" }]);
    expect(await cache.advance([{ id, entry: product(10) }])).toEqual([older(10)]);
    expect(await cache.put(id, product(10), epoch)).toEqual(ok(10)); // the fill the marker waits for
  });
});

describe("absent: an id never created", () => {
  test("is version 0: any write of the product replaces it, and a consumer's state over it is only a marker", async () => {
    const id = newId();
    const absent = { version: 0, kind: "n" as const, payload: "" };
    expect(await cache.put(id, absent, epoch)).toEqual(ok(0));
    expect(isServable(await cache.get(id), cache.epoch())).toBe(true);
    expect(await redis.pttl(key(id))).toBeLessThanOrEqual(30_000); // the short negative TTL
    expect(await cache.advance([{ id, entry: product(1) }])).toEqual([{ applied: true, version: 1, outcome: "marked" }]);
    const other = newId();
    await cache.put(other, absent, epoch);
    expect(await cache.put(other, product(1), epoch)).toEqual(ok(1)); // the create's write-through
    expect(await cache.put(other, absent, epoch)).toEqual(older(1));
  });
});

describe("mark: invalidations", () => {
  test("raise the version, never lower it, and never replace data of their own version", async () => {
    const id = newId();
    await cache.put(id, product(5), epoch);
    expect(await cache.mark([{ id, version: 5 }, { id, version: 3 }])).toEqual([older(5), older(5)]);
    expect(await cache.get(id)).toEqual(stored(product(5)));
    expect(await cache.mark([{ id, version: 6 }])).toEqual([ok(6)]);
    expect(await cache.get(id)).toEqual(stored({ version: 6, kind: "m", payload: "" }));
  });
});

describe("the fence", () => {
  test("is armed once and stays while the server is the same", async () => {
    const raw = await redis.get(fenceKey(prefix, "catalog"));
    const info = await redis.info("server");
    expect(decodeFence(raw)).toEqual({ epoch, runId: /run_id:(\w+)/.exec(info)![1]! });
    const client = testRedis();
    const again = createRedisCache(client, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 });
    expect(await again.whenReady(5000)).toBe(true);
    expect(again.epoch()).toBe(epoch);
    client.disconnect();
  });

  for (const how of ["delete", "other-server"] as const) {
    test(`when it moves (${how === "delete" ? "flushed" : "armed on another server"}), entries written before are no longer served and old writers are fenced`, async () => {
      const id = newId();
      await cache.put(id, product(5), epoch);
      const { before, after } = await moveFence(how);
      expect(after).not.toBe(before);
      const entry = await cache.get(id);
      expect(entry).toEqual(stored(product(5), before));
      expect(isServable(entry, cache.epoch())).toBe(false);
      // A fill that read PostgreSQL before the loss was detected is refused, whatever its version.
      expect(await cache.put(id, product(6), before)).toEqual({ applied: false, version: 0, outcome: "fenced" });
      // A consumer cannot advance data of the old epoch: its state goes in as a marker.
      expect(await cache.advance([{ id, entry: product(6) }])).toEqual([{ applied: true, version: 6, outcome: "marked" }]);
      // A fill under the new epoch is served, and an equal version of the old epoch is re-stamped.
      expect(await cache.put(id, product(6), after)).toEqual(ok(6));
      expect(isServable(await cache.get(id), cache.epoch())).toBe(true);
      const other = newId();
      await redis.set(key(other), encodeEntry(stored(product(2), before)));
      expect(await cache.put(other, product(2), after)).toEqual(ok(2));
      expect(await cache.get(other)).toEqual(stored(product(2), after));
    });
  }
});

describe("the entry format", () => {
  test("decodeEntry reads what the script stores and rejects anything else", () => {
    expect(decodeEntry('7|p|k3|{"a":1}')).toEqual({ version: 7, kind: "p", epoch: "k3", payload: '{"a":1}' });
    expect(decodeEntry("7|t|-|")).toEqual({ version: 7, kind: "t", epoch: "-", payload: "" });
    expect(encodeEntry({ version: 7, kind: "m", epoch: "k3", payload: "" })).toBe("7|m|k3|");
    for (const bad of [null, "", "x|p|k|", "7|q|k|", "7p|", "|p|k|", "0|p|k|", '7|p|{"a":1}', "7|p|K3|"]) expect(decodeEntry(bad)).toBeNull();
  });
});

describe("putMany: batches of entries under one fence (cas-set-many-n.lua)", () => {
  /**
   * A second adapter on a client of its own, 2 entries a call, whose calls after the first wait
   * for `between`, run once after the first call was sent: another writer, or a loss of the
   * fence, lands between two calls of one putMany.
   */
  async function batchedWith(between: () => Promise<void>) {
    // Without auto-pipelining: ioredis's pipelines call the client's command methods, which are patched here.
    const client = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const batched = createRedisCache(client, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60, putBatch: 2 });
    expect(await batched.whenReady(5000)).toBe(true);
    const own = client as unknown as { casSetMany: (...args: unknown[]) => Promise<unknown> };
    const send = own.casSetMany.bind(client);
    let calls = 0;
    let landed: Promise<void> | null = null;
    own.casSetMany = async (...args: unknown[]) => {
      // Every call after the first waits until `between` is done (the calls are issued together).
      if (++calls > 1) await (landed ??= between());
      return send(...args);
    };
    return { batched, client, calls: () => calls };
  }

  test("a newer version written between two calls of one batch is not overwritten; the rest are stored", async () => {
    const [a, b, c, d] = [newId(), newId(), newId(), newId()];
    const { batched, client, calls } = await batchedWith(async () => {
      expect(await cache.put(c, product(9), epoch)).toEqual(ok(9));
    });
    const results = await batched.putMany([{ id: a, entry: product(3) }, { id: b, entry: product(3) }, { id: c, entry: product(3) }, { id: d, entry: product(3) }], epoch);
    client.disconnect();
    expect(calls()).toBe(2);
    expect(results).toEqual([ok(3), ok(3), older(9), ok(3)]);
    expect(await cache.get(c)).toEqual(stored(product(9)));
    expect(await cache.get(d)).toEqual(stored(product(3)));
  });

  test("a fence moved between two calls of one batch: the calls after it are fenced and write nothing", async () => {
    const [a, b, c, d, e] = [newId(), newId(), newId(), newId(), newId()];
    const before = epoch;
    const { batched, client } = await batchedWith(async () => {
      await redis.set(fenceKey(prefix, "catalog"), `${before}|0123456789abcdef0123456789abcdef01234567`); // armed on another server
    });
    const results = await batched.putMany([a, b, c, d, e].map((id) => ({ id, entry: product(2) })), before);
    client.disconnect();
    const fenced = { applied: false, version: 0, outcome: "fenced" as const };
    expect(results).toEqual([ok(2), ok(2), fenced, fenced, fenced]);
    for (const id of [c, d, e]) expect(await redis.get(key(id))).toBeNull();
    expect(await cache.get(a)).toEqual(stored(product(2), before));
    // The adapters learn the new epoch; a batch under it is stored again.
    await cache.mark([{ id: "fence-probe", version: 1 }]);
    epoch = await waitFor(() => (cache.epoch() !== before ? cache.epoch() : null), 5000, "the new epoch");
    expect(await cache.putMany([c, d].map((id) => ({ id, entry: product(2) })), epoch)).toEqual([ok(2), ok(2)]);
  });

  test("a writer whose epoch is not the fence's is refused for the whole batch", async () => {
    const ids = [newId(), newId(), newId()];
    expect(await cache.putMany(ids.map((id) => ({ id, entry: product(1) })), "zzz")).toEqual(ids.map(() => ({ applied: false, version: 0, outcome: "fenced" })));
    for (const id of ids) expect(await redis.get(key(id))).toBeNull();
  });

  test("1,000 entries in one putMany (4 calls by default) each get their own answer, in order", async () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    await cache.put(ids[500]!, product(8), epoch);
    const results = await cache.putMany(ids.map((id, i) => ({ id, entry: i % 2 ? tombstone(4) : product(4) })), epoch);
    expect(results.filter((r) => r.outcome === "stored").length).toBe(999);
    expect(results[500]).toEqual(older(8));
    expect(await cache.get(ids[999]!)).toEqual(stored(tombstone(4)));
    expect(await cache.get(ids[998]!)).toEqual(stored(product(4)));
  });
});
