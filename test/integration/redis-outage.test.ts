// Redis away: reads fall back to PostgreSQL within a bound, writes still succeed, and when Redis
// comes back (with its old, now stale entries) the stale entries are never served and the cache
// heals by itself.
import { afterAll, beforeAll, expect, test } from "bun:test";
import pino from "pino";
import { createApp } from "../../src/app.ts";
import { createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { cacheKey } from "../../src/infra/cache-format.ts";
import { createRedisCache, createRedisClient } from "../../src/infra/redis-cache.ts";
import { createCacheWriter } from "../../src/usecases/cache-writer.ts";
import { testPrisma, testRedis, uniquePrefix, waitFor } from "../support/services.ts";
import { startSpareRedis } from "../support/spare-redis.ts";

const COMMAND_TIMEOUT_MS = 100;
let redisServer: Awaited<ReturnType<typeof startSpareRedis>>;
const prisma = testPrisma();
const prefix = uniquePrefix("outage");
let app: ReturnType<typeof createApp>;
let client: ReturnType<typeof createRedisClient>;
let writer: ReturnType<typeof createCacheWriter>;
let cache: ReturnType<typeof createRedisCache>;

beforeAll(async () => {
  redisServer = await startSpareRedis();
  client = createRedisClient(redisServer.url, COMMAND_TIMEOUT_MS);
  client.on("error", () => {}); // connection errors are expected here
  const logger = pino({ level: "silent" });
  cache = createRedisCache(client, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 600 });
  expect(await cache.whenReady(5000)).toBe(true);
  writer = createCacheWriter(cache, logger);
  app = createApp({ store: createPrismaEventStore(prisma), cache, writer, logger });
});

afterAll(async () => {
  client.disconnect();
  await redisServer.dispose();
  await prisma.$disconnect();
});

async function call(method: string, path: string, body?: unknown) {
  const started = performance.now();
  const res = await app.handle(
    new Request(`http://localhost${path}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }),
  );
  const text = await res.text();
  return { status: res.status, cache: res.headers.get("x-cache"), body: text ? JSON.parse(text) : null, ms: performance.now() - started };
}

test("when Redis stops and comes back with stale entries, reads and writes go on and the cache heals", async () => {
  const id = `${prefix}-lamp`;
  const key = cacheKey(prefix, "catalog", id);
  expect((await call("POST", "/products", { id, name: "Lamp", priceCents: 100, currency: "EUR" })).status).toBe(201);
  expect((await call("GET", `/products/${id}`)).cache).toBe("hit");
  const epochBefore = cache.epoch();

  await redisServer.stop();

  // Reads: served from PostgreSQL, each bounded by the command timeout rather than queued.
  const read = await call("GET", `/products/${id}`);
  expect([read.status, read.cache, read.body.version]).toEqual([200, "miss", 1]);
  expect(read.ms).toBeLessThan(1000);

  // Writes: committed; the write-through is remembered for later.
  const write = await call("PATCH", `/products/${id}`, { priceCents: 200 });
  expect([write.status, write.body.version]).toEqual([200, 2]);
  expect(write.ms).toBeLessThan(1000);
  expect(writer.pendingCount()).toBe(1);
  expect((await call("GET", `/products/${id}`)).body.version).toBe(2);

  const ready = await call("GET", "/readyz");
  expect([ready.status, ready.body.checks.postgres]).toEqual([503, "ok"]);
  expect(ready.body.checks.redis).not.toBe("ok");

  // Redis returns with its append-only file: the key holds version 1 again, which is now stale. The
  // server is another process than the one that armed the fence, so the fence moves: the entry of
  // version 1 is never served, and the failed write-through goes in as a marker of version 2.
  await redisServer.start();
  // Until the fence is verified reads go to PostgreSQL; after, the entry of version 1 is not served.
  const seen: number[] = [];
  while (cache.epoch() === null) seen.push((await call("GET", `/products/${id}`)).body.version);
  seen.push((await call("GET", `/products/${id}`)).body.version);
  expect(new Set(seen)).toEqual(new Set([2]));
  expect(cache.epoch()).not.toBe(epochBefore);
  await waitFor(() => writer.pendingCount() === 0, 15_000, "the failed write-through to be invalidated");
  const probe = testRedis(redisServer.url);
  try {
    const value = (await probe.get(key))!;
    expect(value).toStartWith("2|");
    expect(value).toContain(`|${cache.epoch()}|`);
  } finally {
    probe.disconnect();
  }
  const healed = await call("GET", `/products/${id}`);
  expect([healed.status, healed.body.version, healed.body.priceCents]).toEqual([200, 2, 200]);
  expect((await call("GET", `/products/${id}`)).cache).toBe("hit");
  expect((await call("GET", "/readyz")).status).toBe(200);
});
