// Replay rate: products per second rebuilt from the event store into an empty cache.
//   bun bench/replay.ts [--products 100000] [--events 5] [--page-size 500]
// Seeds a database of its own with PostgreSQL's generate_series (products × events, snapshots
// matching), starts a Redis server of its own (empty), then runs the replay job exactly as
// POST /admin/replay and `bun run replay` do. Prints a table and writes bench/results/*.json.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import pino from "pino";
import { createPrismaClient, createPrismaEventStore } from "../src/infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient } from "../src/infra/redis-cache.ts";
import { createRedisJobStore } from "../src/infra/redis-jobs.ts";
import { createReplayRunner } from "../src/usecases/replay-jobs.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";
import { TEST_DATABASE_URL } from "../test/support/services.ts";

const { values: args } = parseArgs({
  options: { products: { type: "string", default: "100000" }, events: { type: "string", default: "5" }, "page-size": { type: "string", default: "500" } },
});
const PRODUCTS = Number(args.products);
const EVENTS = Number(args.events);
const database = `catalog_bench_replay_${Date.now().toString(36)}`;
const url = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, `/${database}$1`);
const adminUrl = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, "/postgres$1");

const migrate = Bun.spawn([process.execPath, "scripts/migrate.ts", "deploy"], { env: { ...process.env, DATABASE_URL: url }, stdout: "ignore", stderr: "inherit" });
if ((await migrate.exited) !== 0) throw new Error("migration failed");

const db = new pg.Client({ connectionString: url });
await db.connect();
const seedStarted = performance.now();
await db.query(
  `INSERT INTO events (event_id, product_id, version, type, schema_version, data, metadata, occurred_at)
   SELECT gen_random_uuid(), 'p' || lpad(i::text, 7, '0'), v,
          CASE WHEN v = 1 THEN 'ProductCreated' ELSE 'ProductUpdated' END, 1,
          CASE WHEN v = 1 THEN jsonb_build_object('name', 'Product ' || i, 'description', 'seeded for the replay benchmark', 'priceCents', 100, 'currency', 'EUR', 'category', 'bench')
               ELSE jsonb_build_object('priceCents', 100 + v) END,
          '{}', timestamptz '2026-01-01' + v * interval '1 minute'
   FROM generate_series(1, $1::int) AS i, generate_series(1, $2::int) AS v`,
  [PRODUCTS, EVENTS],
);
await db.query(
  `INSERT INTO product_snapshots (id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
   SELECT 'p' || lpad(i::text, 7, '0'), $2::int, false, 'Product ' || i, 'seeded for the replay benchmark',
          CASE WHEN $2::int = 1 THEN 100 ELSE 100 + $2::int END, 'EUR', 'bench',
          timestamptz '2026-01-01' + interval '1 minute', timestamptz '2026-01-01' + $2::int * interval '1 minute'
   FROM generate_series(1, $1::int) AS i`,
  [PRODUCTS, EVENTS],
);
await db.query("ANALYZE");
const seedSeconds = (performance.now() - seedStarted) / 1000;

const redisServer = await startSpareRedis();
const prisma = createPrismaClient(url, 4);
const redis = createRedisClient(redisServer.url, 5000, { enableOfflineQueue: true });
const logger = pino({ level: "warn" });
const runner = createReplayRunner({
  source: createPrismaEventStore(prisma),
  cacheFor: (namespace) => createRedisCache(redis, { keyPrefix: "bench", namespace, ttlSeconds: 3600 }),
  jobs: createRedisJobStore(redis, "bench"),
  logger,
  defaultNamespace: "catalog",
  pageSize: Number(args["page-size"]),
});

try {
  const started = performance.now();
  const { done } = await runner.start({});
  const job = await done;
  const seconds = (performance.now() - started) / 1000;
  const keys = await redis.dbsize();
  const result = {
    products: PRODUCTS,
    eventsPerProduct: EVENTS,
    pageSize: Number(args["page-size"]),
    status: job.status,
    processed: job.processed,
    cacheWritten: job.cacheWritten,
    snapshotsRepaired: job.snapshotsRepaired,
    errors: job.errors,
    cacheKeys: keys,
    seconds: Number(seconds.toFixed(2)),
    productsPerSecond: Math.round(job.processed / seconds),
    eventsPerSecond: Math.round((job.processed * EVENTS) / seconds),
  };
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
  console.log(`\nreplay into an empty cache, ${new Date().toISOString()}, ${machine} (seeding took ${seedSeconds.toFixed(1)} s)`);
  console.table([result]);
  if (job.status !== "completed" || job.processed !== PRODUCTS || keys < PRODUCTS) throw new Error(`replay incomplete: ${JSON.stringify(job)}`);
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/replay-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, result }, null, 2));
  console.log(`wrote ${file}`);
} finally {
  redis.disconnect();
  await prisma.$disconnect();
  await db.end();
  await redisServer.dispose();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
}
process.exit(0);
