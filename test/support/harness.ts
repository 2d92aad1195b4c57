// Builds the real app (real PostgreSQL, real Redis) for in-process HTTP tests via app.handle.
// `cluster: true` puts its cache on the Redis Cluster of test/support/redis-cluster.ts.
import type Redis from "ioredis";
import type { Cluster } from "ioredis";
import pino from "pino";
import { createApp, defaultContext } from "../../src/app.ts";
import { createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { decodeEntry, encodeEntry, keyLayout } from "../../src/infra/cache-format.ts";
import { createRedisCache, createRedisClient, type RedisClient } from "../../src/infra/redis-cache.ts";
import { withRedisNearCache } from "../../src/infra/redis-change-feed.ts";
import type { NearCacheStats } from "../../src/usecases/near-cache.ts";
import { createRedisJobStore } from "../../src/infra/redis-jobs.ts";
import { createOperatorSources } from "../../src/infra/operator-sources.ts";
import { createCacheWriter } from "../../src/usecases/cache-writer.ts";
import { createReplayRunner } from "../../src/usecases/replay-jobs.ts";
import type { EventStore, ProductCache } from "../../src/usecases/ports.ts";
import { deleteClusterKeys, ensureRedisCluster, TEST_REDIS_CLUSTER_NODES } from "./redis-cluster.ts";
import { deleteKeys, testPrisma, testRedis, uniquePrefix } from "./services.ts";

export type Reply = { status: number; headers: Headers; body: any; text: string };

export const ADMIN_TOKEN = "test-admin-token-0123456789";

type L1Options = { enabled: boolean; maxEntries: number; maxBytes: number; maxStalenessMs: number; heartbeatMs: number; readBarrier: boolean };

export function createHarness(
  label: string,
  options: { writeThrough?: boolean; wrapStore?: (s: EventStore) => EventStore; cluster?: boolean; fenceCheckMs?: number; prefix?: string; l1?: Partial<L1Options> } = {},
) {
  // `prefix`: share another harness's keys, as a second api instance of the same deployment does.
  const prefix = options.prefix ?? uniquePrefix(label);
  const prisma = testPrisma();
  // On a Cluster, the client the processes use (fail fast, no re-sent commands): its failover is what is tested.
  const redis: RedisClient = options.cluster ? (ensureRedisCluster(), createRedisClient({ redisUrl: "", redisClusterNodes: TEST_REDIS_CLUSTER_NODES }, 250)) : testRedis();
  const keyOf = (id: string, namespace: string) => keyLayout(prefix, namespace, options.cluster === true).entry(id);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const cacheFor = (namespace: string) => createRedisCache(redis, { keyPrefix: prefix, namespace, ttlSeconds: 600, fenceCheckMs: options.fenceCheckMs });
  // `l1`: the near cache in front, kept right by the namespace's change feed, as src/main.ts does.
  const near = withRedisNearCache(redis, cacheFor("catalog"), {
    keyPrefix: prefix,
    namespace: "catalog",
    l1: { enabled: options.l1 !== undefined, maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, maxStalenessMs: 1000, heartbeatMs: 200, ...options.l1 },
  });
  const cache: ProductCache = near.cache;
  const realStore = createPrismaEventStore(prisma);
  const store = options.wrapStore ? options.wrapStore(realStore) : realStore;
  const writer = options.writeThrough === false ? null : createCacheWriter(cache, logger);
  const jobs = createRedisJobStore(redis, prefix);
  const replay = createReplayRunner({ source: realStore, cacheFor, jobs, logger, defaultNamespace: "catalog", pageSize: 50 });
  // The re-drive is a relay's (kafka-tool against a broker) in the e2e tests; here it is what the test sets.
  let redrive: (group: string | undefined) => Promise<{ output: string }> = async (group) => ({ output: `redrive ${group ?? "all"}` });
  const operator = createOperatorSources({
    redis,
    prefix,
    prisma,
    store,
    namespaces: ["catalog", "storefront"],
    heartbeatIntervalMs: 2000,
    redrive: (group) => redrive(group),
  });
  const app = createApp({ store, cache, writer, logger, ctx: defaultContext, bodyLimitBytes: 64 * 1024, replay, adminToken: ADMIN_TOKEN, operator, namespace: "catalog" });
  let seq = 0;

  async function call(method: string, path: string, init: { body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string>; admin?: boolean } = {}): Promise<Reply> {
    if (!(await cache.whenReady(5000))) throw new Error("the test cache's fence was not verified within 5 s");
    const headers: Record<string, string> = { ...(init.admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {}), ...init.headers };
    let body: string | Uint8Array | undefined;
    if (init.raw !== undefined) body = init.raw;
    else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }

  return {
    app,
    prisma,
    redis,
    cache,
    store: realStore,
    jobs,
    prefix,
    call,
    /** A product id unique to this run. */
    id: (name = "p") => `${prefix}-${name}-${++seq}`,
    key: (id: string, namespace = "catalog") => keyOf(id, namespace),
    /**
     * A product's entry as "<version>|<kind>|<payload>" when it was written under the fence's
     * current epoch (what a read may serve), "old-epoch <…>" when before, null when there is none.
     */
    async cached(id: string, namespace = "catalog"): Promise<string | null> {
      const e = decodeEntry(await redis.get(keyOf(id, namespace)));
      if (!e) return null;
      const text = `${e.version}|${e.kind}|${e.payload}`;
      return e.epoch === cacheFor(namespace).epoch() ? text : `old-epoch ${text}`;
    },
    /** Plants an entry ("<version>|<kind>|<payload>") under the current epoch, as a broken writer would. */
    async plant(id: string, value: string, namespace = "catalog") {
      const [version, kind, ...payload] = value.split("|");
      const epoch = cacheFor(namespace).epoch() ?? "-";
      await redis.set(keyOf(id, namespace), encodeEntry({ version: Number(version), kind: kind as "p", epoch, payload: payload.join("|") }));
    },
    /** Creates a product through the API and returns its JSON. */
    async create(fields: Record<string, unknown> = {}) {
      const id = (fields.id as string | undefined) ?? `${prefix}-p-${++seq}`;
      const r = await call("POST", "/products", { body: { id, name: "Teapot", priceCents: 2500, currency: "EUR", ...fields } });
      if (r.status !== 201) throw new Error(`create failed: ${r.status} ${r.text}`);
      return r.body as { id: string; version: number } & Record<string, unknown>;
    },
    /** Replaces the dead letters' re-drive (default: answers "redrive <group>"). */
    setRedrive(f: typeof redrive) {
      redrive = f;
    },
    /** The near cache's counters (with `l1`). */
    l1Stats: () => (cache as ProductCache & { stats?: () => NearCacheStats }).stats?.() ?? null,
    async close() {
      await near.close();
      if (options.cluster) await deleteClusterKeys(redis as Cluster, prefix);
      else await deleteKeys(redis as Redis, prefix);
      redis.disconnect();
      await prisma.$disconnect();
    },
  };
}

export type Harness = ReturnType<typeof createHarness>;
