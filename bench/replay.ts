// Replay rate: products per second rebuilt from the event store into an empty cache.
//   bun bench/replay.ts [--products 100000] [--events 5] [--page-size 500]
// Seeds a database of its own (bench/lib/seed.ts: products × events, snapshots matching), starts a Redis server of its own (empty), then runs the replay job exactly as
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
import { seedProducts } from "./lib/seed.ts";
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

const seedStarted = performance.now();
await seedProducts(url, PRODUCTS, EVENTS);
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
  await redisServer.dispose();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  await admin.end();
}
process.exit(0);
