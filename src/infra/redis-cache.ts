// The Redis adapter of ProductCache: one string key per product and namespace, written only through
// the compare-and-set script in lua/cas-set-1.lua.
import { readFileSync } from "node:fs";
import Redis, { type RedisOptions } from "ioredis";
import type { CacheEntry, CasResult, ProductCache } from "../usecases/ports.ts";

// node:fs rather than Bun.file: the consumers load this module on Node.
const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
const SCRIPTS = {
  casSet: lua("cas-set-1.lua"),
  replaceIfEqual: lua("replace-if-equal-1.lua"),
  releaseLease: lua("release-lease-1.lua"),
};

type CasRedis = Redis & {
  casSet(key: string, version: number, kind: string, payload: string, ttlMs: number): Promise<[number, number]>;
  replaceIfEqual(key: string, expected: string, version: number, kind: string, payload: string, ttlMs: number): Promise<number>;
  releaseLease(key: string, token: string): Promise<number>;
};

export type RedisCacheOptions = {
  keyPrefix: string;
  namespace: string;
  ttlSeconds: number;
};

/**
 * Fails fast instead of queueing: with the offline queue off and one retry per command, a Redis
 * outage costs each request at most `commandTimeoutMs`, and the read path falls back to PostgreSQL.
 * The connection itself keeps reconnecting in the background (capped backoff).
 */
export function createRedisClient(url: string, commandTimeoutMs: number, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    lazyConnect: false,
    ...extra,
  });
}

/** Key of a product's entry. The hash tag keeps it addressable on a Redis Cluster. */
export const cacheKey = (prefix: string, namespace: string, id: string) => `${prefix}:${namespace}:product:{${id}}`;
/** Key of the fill lease of a product (same hash tag, so same slot as the entry). */
export const leaseKey = (prefix: string, namespace: string, id: string) => `${prefix}:${namespace}:lease:{${id}}`;

export function parseEntry(raw: string | null): CacheEntry | null {
  if (raw === null) return null;
  const bar = raw.indexOf("|");
  const version = Number(raw.slice(0, bar));
  const kind = raw[bar + 1];
  if (bar < 1 || !Number.isInteger(version) || (kind !== "p" && kind !== "t" && kind !== "m") || raw[bar + 2] !== "|") {
    return null; // unreadable: treated as a miss, and the fill overwrites it
  }
  return { version, kind, payload: raw.slice(bar + 3) };
}

export function createRedisCache(client: Redis, options: RedisCacheOptions): ProductCache {
  // defineCommand registers a script once and sends it by SHA (EVALSHA, reloaded on NOSCRIPT).
  for (const [name, source] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== "function") {
      client.defineCommand(name, { numberOfKeys: 1, lua: source });
    }
  }
  const redis = client as unknown as CasRedis;
  const ttlMs = options.ttlSeconds * 1000;
  const key = (id: string) => cacheKey(options.keyPrefix, options.namespace, id);
  const toResult = ([applied, version]: [number, number]): CasResult => ({ applied: applied === 1, version });

  return {
    async get(id) {
      return parseEntry(await redis.get(key(id)));
    },
    async getMany(ids) {
      if (ids.length === 0) return [];
      return (await redis.mget(ids.map(key))).map(parseEntry);
    },
    async put(id, entry: CacheEntry) {
      return toResult(await redis.casSet(key(id), entry.version, entry.kind, entry.payload, ttlMs));
    },
    async putMany(items) {
      // Auto-pipelining sends these in one round trip.
      const replies = await Promise.all(
        items.map(({ id, entry }) => redis.casSet(key(id), entry.version, entry.kind, entry.payload, ttlMs)),
      );
      return replies.map(toResult);
    },
    async getRaw(ids) {
      if (ids.length === 0) return [];
      return redis.mget(ids.map(key));
    },
    async replaceIfEqual(id, expected, entry) {
      return (await redis.replaceIfEqual(key(id), expected, entry.version, entry.kind, entry.payload, ttlMs)) === 1;
    },
    async acquireLease(id, token, ttl) {
      return (await redis.set(leaseKey(options.keyPrefix, options.namespace, id), token, "PX", ttl, "NX")) === "OK";
    },
    async releaseLease(id, token) {
      await redis.releaseLease(leaseKey(options.keyPrefix, options.namespace, id), token);
    },
    async ping() {
      await redis.ping();
    },
    onReady(listener) {
      redis.on("ready", listener);
    },
  };
}
