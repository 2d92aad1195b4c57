// Contract of lua/cas-set-1.lua against the real Redis: versions only move forward.
import { afterAll, describe, expect, test } from "bun:test";
import { createRedisCache, parseEntry } from "../../src/infra/redis-cache.ts";
import type { CacheEntry } from "../../src/usecases/ports.ts";
import { deleteKeys, testRedis, uniquePrefix } from "../support/services.ts";

const redis = testRedis();
const prefix = uniquePrefix("cas");
const cache = createRedisCache(redis, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 });
let n = 0;
const newId = () => `k${++n}`;
const product = (version: number): CacheEntry => ({ version, kind: "p", payload: JSON.stringify({ version }) });
const tombstone = (version: number): CacheEntry => ({ version, kind: "t", payload: "" });
const marker = (version: number): CacheEntry => ({ version, kind: "m", payload: "" });

afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

describe("compare-and-set script", () => {
  test("when an older version arrives after a newer one, the cache keeps the newer one", async () => {
    const id = newId();
    expect(await cache.put(id, product(5))).toEqual({ applied: true, version: 5 });
    expect(await cache.put(id, product(4))).toEqual({ applied: false, version: 5 });
    expect(await cache.get(id)).toEqual(product(5));
  });

  test("an equal version is a no-op: the first value stays", async () => {
    const id = newId();
    await cache.put(id, product(3));
    expect(await cache.put(id, { version: 3, kind: "p", payload: '{"other":true}' })).toEqual({ applied: false, version: 3 });
    expect(await cache.get(id)).toEqual(product(3));
  });

  test("a newer version replaces an older one", async () => {
    const id = newId();
    await cache.put(id, product(1));
    expect(await cache.put(id, product(2))).toEqual({ applied: true, version: 2 });
    expect(await cache.get(id)).toEqual(product(2));
  });

  test("a tombstone blocks any older fill, so a deleted product never comes back", async () => {
    const id = newId();
    await cache.put(id, product(1));
    await cache.put(id, tombstone(2));
    expect(await cache.put(id, product(1))).toEqual({ applied: false, version: 2 });
    expect(await cache.get(id)).toEqual(tombstone(2));
  });

  test("a marker refuses older fills but lets the fill of its own version in", async () => {
    const id = newId();
    await cache.put(id, marker(4));
    expect(await cache.put(id, product(3))).toEqual({ applied: false, version: 4 });
    expect(await cache.put(id, marker(4))).toEqual({ applied: false, version: 4 });
    expect(await cache.put(id, product(4))).toEqual({ applied: true, version: 4 });
    expect(await cache.put(id, marker(4))).toEqual({ applied: false, version: 4 });
    expect(await cache.get(id)).toEqual(product(4));
  });

  test("a value that does not parse is overwritten by a fill", async () => {
    const id = newId();
    await redis.set(`${prefix}:catalog:product:{${id}}`, "garbage");
    expect(await cache.get(id)).toBeNull();
    expect(await cache.put(id, product(1))).toEqual({ applied: true, version: 1 });
  });

  test("entries get the configured TTL", async () => {
    const id = newId();
    await cache.put(id, product(1));
    const ttl = await redis.pttl(`${prefix}:catalog:product:{${id}}`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  test("200 concurrent fills of mixed versions leave the highest", async () => {
    const id = newId();
    const versions = Array.from({ length: 200 }, (_, i) => (i * 7919) % 200 + 1); // a permutation of 1..200
    const clients = Array.from({ length: 4 }, () => testRedis());
    const caches = clients.map((c) => createRedisCache(c, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 }));
    const results = await Promise.all(versions.map((v, i) => caches[i % caches.length]!.put(id, product(v))));
    clients.forEach((c) => c.disconnect());
    expect(await cache.get(id)).toEqual(product(200));
    // A write was refused only because the key already held its version or a newer one.
    const wrong = results.filter((r, i) => (r.applied ? r.version !== versions[i] : r.version < versions[i]!));
    expect(wrong).toEqual([]);
    expect(results[versions.indexOf(200)]).toEqual({ applied: true, version: 200 });
  });

  test("parseEntry reads what the script stores and rejects anything else", () => {
    expect(parseEntry('7|p|{"a":1}')).toEqual({ version: 7, kind: "p", payload: '{"a":1}' });
    expect(parseEntry("7|t|")).toEqual({ version: 7, kind: "t", payload: "" });
    for (const bad of [null, "", "x|p|", "7|q|", "7p|", "|p|"]) expect(parseEntry(bad)).toBeNull();
  });
});
