// A full replay over PostgreSQL and Redis that goes on in a new view (a new stream, transaction and
// connection) whenever its view is older than viewMs (src/usecases/replay.ts, VIEW_MS): every
// product is written once, and no stream's session is left open.
import { afterAll, expect, test } from "bun:test";
import pg from "pg";
import pino from "pino";
import { seededId, seedProducts } from "../../bench/lib/seed.ts";
import { STREAM_APPLICATION_NAME } from "../../src/infra/event-stream.ts";
import { createPrismaClient, createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import { replay } from "../../src/usecases/replay.ts";
import { deleteKeys, isolatedDatabase, testRedis, uniquePrefix, waitFor } from "../support/services.ts";

const database = await isolatedDatabase("replay_views");
const prisma = createPrismaClient(database.url, 2);
const redis = testRedis();
const prefix = uniquePrefix("views");
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await prisma.$disconnect();
  await database.drop();
});

test("with views of 0 ms, each stream writes a page and the next goes on from there: all products once, no session left open", async () => {
  await seedProducts(database.url, 23, 3);
  const cache = createRedisCache(redis, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 600 });
  expect(await cache.whenReady(5000)).toBe(true);
  const source = createPrismaEventStore(prisma);
  const streams: (string | null)[] = [];
  const watched = {
    ...source,
    streamProducts(after: string | null, pageSize: number) {
      streams.push(after);
      return source.streamProducts(after, pageSize);
    },
  };
  const result = await replay({ source: watched, cache, logger: pino({ level: "silent" }) }, { pageSize: 5, viewMs: 0 }, () => {});
  expect(result.counts).toEqual({ processed: 23, snapshotsRepaired: 0, cacheWritten: 23, cacheRepaired: 0, cacheUnchanged: 0, cacheNewer: 0, errors: 0 });
  expect(streams).toEqual([null, seededId(5), seededId(10), seededId(15), seededId(20)]);
  const entries = await cache.getMany(Array.from({ length: 23 }, (_, i) => seededId(i + 1)));
  expect(entries.map((e) => e?.version)).toEqual(Array(23).fill(3));
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  try {
    // A closed session's backend exits a moment after its client hung up; a leaked one never does.
    const open = async () => (await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2", [database.name, STREAM_APPLICATION_NAME])).rows[0].n as number;
    await waitFor(async () => (await open()) === 0, 2000, "no stream session left");
  } finally {
    await admin.end();
  }
});
