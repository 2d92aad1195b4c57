// PostgreSQL out of reach is the service's trouble, not the client's: 503 UNAVAILABLE with
// Retry-After, never a bare 500.
import { afterAll, expect, test } from "bun:test";
import { createServer } from "node:net";
import pg from "pg";
import pino from "pino";
import { seededId, seedProducts } from "../../bench/lib/seed.ts";
import { createApp } from "../../src/app.ts";
import { createPrismaClient, createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import { decide } from "../../src/catalog/decide.ts";
import { afterEvents } from "../../src/usecases/outbox-envelopes.ts";
import { ServiceUnavailableError } from "../../src/usecases/ports.ts";
import { deleteKeys, isolatedDatabase, testRedis, uniquePrefix } from "../support/services.ts";

const closedPort = await new Promise<number>((resolve) => {
  const srv = createServer().listen(0, "127.0.0.1", () => {
    const { port } = srv.address() as { port: number };
    srv.close(() => resolve(port));
  });
});
const prisma = createPrismaClient(`postgresql://postgres@127.0.0.1:${closedPort}/nowhere`, 1);
// The real server, asked for a database it does not have (a typo in DATABASE_URL, a dropped database).
const missingDb = createPrismaClient(`postgresql://postgres@127.0.0.1:5432/no_such_db_${process.pid}`, 1);
const redis = testRedis();
const prefix = uniquePrefix("pgdown");
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await prisma.$disconnect();
  await missingDb.$disconnect();
});

test.each([
  ["cannot be reached", prisma],
  ["has no such database", missingDb],
])("when PostgreSQL %s, reads and writes answer 503 UNAVAILABLE with Retry-After", async (_what, client) => {
  const app = createApp({
    store: createPrismaEventStore(client),
    cache: createRedisCache(redis, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 60 }),
    writer: null,
    logger: pino({ level: "silent" }),
  });
  const requests = [
    new Request("http://localhost/products/lamp"),
    new Request("http://localhost/products?ids=a,b"),
    new Request("http://localhost/products/lamp/events"),
    new Request("http://localhost/products", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "Lamp", priceCents: 1, currency: "EUR" }) }),
    new Request("http://localhost/products/lamp", { method: "DELETE" }),
  ];
  for (const req of requests) {
    const res = await app.handle(req);
    expect({ url: req.url, status: res.status, retryAfter: res.headers.get("retry-after"), code: ((await res.json()) as { error: { code: string } }).error.code }).toEqual({
      url: req.url,
      status: 503,
      retryAfter: "1",
      code: "UNAVAILABLE",
    });
  }
  const ready = await app.handle(new Request("http://localhost/readyz"));
  expect(ready.status).toBe(503);
});

// The write path's one statement goes to the pg pool under the Prisma client, not through Prisma:
// the same failures are ServiceUnavailableError there too.
test.each([
  ["cannot be reached", prisma],
  ["has no such database", missingDb],
])("when PostgreSQL %s, an append throws ServiceUnavailableError", async (_what, client) => {
  const events = decide({ type: "CreateProduct", id: "lamp", fields: { name: "Lamp", description: "", priceCents: 1, currency: "EUR" } }, null, { now: () => new Date(), newId: () => crypto.randomUUID() });
  const { next, envelopes } = afterEvents(null, events);
  await expect(createPrismaEventStore(client).append(events, next, envelopes)).rejects.toBeInstanceOf(ServiceUnavailableError);
});

// The replay's stream opens a connection of its own (src/infra/event-stream.ts): its failures are
// ServiceUnavailableError too, thrown by the iteration.
test.each([
  ["cannot be reached", prisma],
  ["has no such database", missingDb],
])("when PostgreSQL %s, the replay's stream throws ServiceUnavailableError", async (_what, client) => {
  const read = async () => {
    for await (const _page of createPrismaEventStore(client).streamProducts(null, 10)) throw new Error("a page from nowhere");
  };
  await expect(read()).rejects.toBeInstanceOf(ServiceUnavailableError);
});

// The stream's connection lost mid-stream (a restart, a failover, an administrator): the next
// page must not come, from a new connection outside the stream's transaction and view (Bun.SQL
// reconnects a pool's connection on its own), but ServiceUnavailableError.
test("when the replay stream's connection is lost between two pages, the stream throws ServiceUnavailableError and yields nothing more", async () => {
  const database = await isolatedDatabase("stream_loss");
  const client = createPrismaClient(database.url, 1);
  const admin = new pg.Client({ connectionString: database.url });
  try {
    await seedProducts(database.url, 10, 1);
    await admin.connect();
    const pages: string[][] = [];
    const read = async () => {
      for await (const page of createPrismaEventStore(client).streamProducts(null, 1)) {
        pages.push(page.map((p) => p.id));
        if (pages.length > 1) continue;
        // Held between pages: the stream's session waits in its transaction.
        const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'", [database.name]);
        expect(rows).toHaveLength(1);
        await admin.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
      }
    };
    await expect(read()).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(pages).toEqual([[seededId(1)]]);
  } finally {
    await admin.end().catch(() => {});
    await client.$disconnect();
    await database.drop();
  }
});
