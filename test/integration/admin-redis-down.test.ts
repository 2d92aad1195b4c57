// The admin routes with Redis unreachable answer 503 UNAVAILABLE (with Retry-After), quickly, and
// not 500: Redis is their dependency (replay jobs and locks, heartbeats, entries, dead letters), as
// PostgreSQL is the product routes'. The product routes still answer from PostgreSQL.
import { afterAll, expect, test } from "bun:test";
import pino from "pino";
import { createApp, defaultContext } from "../../src/app.ts";
import { createOperatorSources } from "../../src/infra/operator-sources.ts";
import { createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient } from "../../src/infra/redis-cache.ts";
import { createRedisJobStore } from "../../src/infra/redis-jobs.ts";
import { createReplayRunner } from "../../src/usecases/replay-jobs.ts";
import { ADMIN_TOKEN } from "../support/harness.ts";
import { testPrisma, uniquePrefix } from "../support/services.ts";

const prefix = uniquePrefix("noredis");
const prisma = testPrisma();
const redis = createRedisClient("redis://127.0.0.1:1/0", 250); // nothing listens there
redis.on("error", () => {});
const logger = pino({ level: "silent" });
const store = createPrismaEventStore(prisma);
const cacheFor = (namespace: string) => createRedisCache(redis, { keyPrefix: prefix, namespace, ttlSeconds: 600 });
const app = createApp({
  store,
  cache: cacheFor("catalog"),
  writer: null,
  logger,
  ctx: defaultContext,
  replay: createReplayRunner({ source: store, cacheFor, jobs: createRedisJobStore(redis, prefix), logger, defaultNamespace: "catalog" }),
  adminToken: ADMIN_TOKEN,
  namespace: "catalog",
  operator: createOperatorSources({ redis, prefix, prisma, store, namespaces: ["catalog"], heartbeatIntervalMs: 2000 }),
});
afterAll(async () => {
  redis.disconnect();
  await prisma.$disconnect();
});

const call = async (method: string, path: string, body?: unknown) => {
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const started = performance.now();
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  const json = (await res.json().catch(() => null)) as { error?: { code: string } } | null;
  return { what: `${method} ${path}`, status: res.status, code: json?.error?.code ?? null, retryAfter: res.headers.get("retry-after"), ms: performance.now() - started };
};

test("every admin route that reads Redis answers 503 UNAVAILABLE with Retry-After, within a second", async () => {
  const p = await (async () => {
    const id = `${prefix}-p`;
    await app.handle(new Request("http://localhost/products", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, name: "Lamp", priceCents: 1, currency: "EUR" }) }));
    return id;
  })();
  const answers = await Promise.all([
    call("POST", "/admin/replay"),
    call("POST", "/admin/replay", { productIds: [p] }),
    call("GET", "/admin/replay/some-job"),
    call("GET", "/admin/replay"),
    call("GET", "/admin/overview"),
    call("GET", `/admin/products/${p}/cache`),
    call("GET", "/admin/dead-letters"),
  ]);
  expect(answers.map(({ what, status, code, retryAfter }) => ({ what, status, code, retryAfter }))).toEqual(
    answers.map(({ what }) => ({ what, status: 503, code: "UNAVAILABLE", retryAfter: "1" })),
  );
  expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1000);
  // The product itself is still served, from PostgreSQL.
  const read = await app.handle(new Request(`http://localhost/products/${p}`));
  expect(read.status).toBe(200);
}, 20_000);
