// Replay rate against the speed of reading the events, in the same run.
//   bun bench/replay.ts [--products 100000] [--events 5] [--page-size 1000] [--put-batch 250] [--rounds 1] [--aof]
// Seeds a database of its own (bench/lib/seed.ts: products × events, snapshots matching), starts a
// Redis server of its own (empty), then per round:
//   floor   one streaming query reading every event in product order (the replay's own query and
//           cursor, src/infra/event-stream.ts), nothing done with the rows, through two clients:
//           pg with every column left as text, and Bun.SQL (the replay's client) with the rows raw;
//           the faster of the two is the floor;
//   replay  the replay job exactly as POST /admin/replay and `bun run replay` run it, into an empty
//           namespace (a new one each round), with this process's RSS sampled every 20 ms and the
//           CPU it took: this process (the replay), Redis (INFO cpu), and how busy all cores were.
// Prints a table (products/s of both, and replay/floor) and writes bench/results/replay-*.json.
import { parseArgs } from "node:util";
import { SQL } from "bun";
import pg from "pg";
import pino from "pino";
import { EVENTS_IN_PRODUCT_ORDER, FETCH_ROWS } from "../src/infra/event-stream.ts";
import { createPrismaClient, createPrismaEventStore } from "../src/infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient, PUT_BATCH } from "../src/infra/redis-cache.ts";
import { createRedisJobStore } from "../src/infra/redis-jobs.ts";
import { createReplayRunner } from "../src/usecases/replay-jobs.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";
import { TEST_DATABASE_URL } from "../test/support/services.ts";
import { cpuMeter } from "./lib/cpu.ts";
import { seedProducts } from "./lib/seed.ts";
import { machine, writeResult } from "./lib/stack.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    products: { type: "string", default: "100000" },
    events: { type: "string", default: "5" },
    "page-size": { type: "string", default: "1000" },
    "put-batch": { type: "string", default: String(PUT_BATCH) },
    rounds: { type: "string", default: "1" },
    aof: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help || positionals.length) {
  console.log(`bun bench/replay.ts [options]: a full replay into an empty cache, against one streaming read of the same events
  --products N    products to seed (default 100000)
  --events N      events per product (default 5)
  --page-size N   products per replay page (default 1000, as bun run replay and the api)
  --put-batch N   entries per compare-and-set call (cas-set-many-n.lua; default ${PUT_BATCH}, as the api)
  --rounds N      floor and replay this many times, each replay into a new empty namespace (default 1)
  --aof           run the bench's Redis with appendonly yes, appendfsync always (default: no persistence,
                  as scripts/services.sh and docker-compose.yml run Redis)
Needs PostgreSQL (TEST_DATABASE_URL's server) and redis-server. Run under flock /tmp/e2e.lock on a shared machine.`);
  process.exit(args.help ? 0 : 2);
}
const PRODUCTS = Number(args.products);
const EVENTS = Number(args.events);
const PAGE_SIZE = Number(args["page-size"]);
const PUT_BATCH_SIZE = Number(args["put-batch"]);
const ROUNDS = Number(args.rounds);
const database = `catalog_bench_replay_${Date.now().toString(36)}`;
const url = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, `/${database}$1`);
const adminUrl = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, "/postgres$1");
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

const migrate = Bun.spawn([process.execPath, "scripts/migrate.ts", "deploy"], { env: { ...process.env, DATABASE_URL: url }, stdout: "ignore", stderr: "inherit" });
if ((await migrate.exited) !== 0) throw new Error("migration failed");

const seedStarted = performance.now();
await seedProducts(url, PRODUCTS, EVENTS);
const seedSeconds = (performance.now() - seedStarted) / 1000;

const asText = { getTypeParser: () => (value: string) => value };
type FloorRead = { rows: number; seconds: number };
/** A floor through pg: the replay's query through a cursor on a connection of its own, rows fetched as text and dropped. */
async function floorPg(): Promise<FloorRead> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  await client.query({ text: `DECLARE floor NO SCROLL CURSOR FOR ${EVENTS_IN_PRODUCT_ORDER}`, values: [""] });
  let rows = 0;
  for (;;) {
    const batch = await client.query({ text: `FETCH ${FETCH_ROWS} FROM floor`, rowMode: "array", types: asText });
    rows += batch.rows.length;
    if (batch.rows.length < FETCH_ROWS) break;
  }
  await client.query("COMMIT");
  await client.end();
  return { rows, seconds: (performance.now() - started) / 1000 };
}
/** The same through Bun.SQL, the replay's own client: rows fetched raw (undecoded bytes) and dropped. */
async function floorBun(): Promise<FloorRead> {
  const started = performance.now();
  const sql = new SQL(url, { max: 1 });
  const session = await sql.reserve();
  await session.unsafe("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  await session.unsafe(`DECLARE floor NO SCROLL CURSOR FOR ${EVENTS_IN_PRODUCT_ORDER}`, [""]);
  let rows = 0;
  for (;;) {
    const batch = await session.unsafe(`FETCH ${FETCH_ROWS} FROM floor`).raw();
    rows += batch.length;
    if (batch.length < FETCH_ROWS) break;
  }
  await session.unsafe("COMMIT");
  session.release();
  await sql.close();
  return { rows, seconds: (performance.now() - started) / 1000 };
}

const redisServer = await startSpareRedis({ persistent: args.aof });
/** CPU seconds the Redis server has used (user + system). */
async function redisCpuSeconds(): Promise<number> {
  const info = await redis.info("cpu");
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]);
}
const prisma = createPrismaClient(url, 4);
const redis = createRedisClient(redisServer.url, 5000, { enableOfflineQueue: true });
const logger = pino({ level: "warn" });
const runner = createReplayRunner({
  source: createPrismaEventStore(prisma),
  cacheFor: (namespace) => createRedisCache(redis, { keyPrefix: "bench", namespace, ttlSeconds: 3600, putBatch: PUT_BATCH_SIZE }),
  jobs: createRedisJobStore(redis, "bench"),
  logger,
  defaultNamespace: "catalog",
  pageSize: PAGE_SIZE,
});

try {
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const floors = { pg: await floorPg(), bun: await floorBun() };
    for (const [client, { rows }] of Object.entries(floors)) {
      if (rows !== PRODUCTS * EVENTS) throw new Error(`the floor through ${client} read ${rows} events, not ${PRODUCTS * EVENTS}`);
    }
    const read = floors.pg.seconds < floors.bun.seconds ? floors.pg : floors.bun;
    const namespace = `catalog${round}`;
    const keysBefore = await redis.dbsize();
    Bun.gc(true);
    const rssBefore = process.memoryUsage.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 20);
    const redisCpu0 = await redisCpuSeconds();
    const meter = cpuMeter({ replay: process.pid });
    const started = performance.now();
    let reports = 0;
    const { done } = await runner.start({ namespace }, () => void reports++);
    const job = await done;
    const seconds = (performance.now() - started) / 1000;
    const cpu = meter.stop();
    const redisCpu = (await redisCpuSeconds()) - redisCpu0;
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    const keys = (await redis.dbsize()) - keysBefore; // the entries, the namespace's fence and its sequence
    if (job.status !== "completed" || job.processed !== PRODUCTS || job.cacheWritten !== PRODUCTS || keys < PRODUCTS) {
      throw new Error(`replay incomplete (${keys} keys): ${JSON.stringify(job)}`);
    }
    const floorRate = Math.round(PRODUCTS / read.seconds);
    const replayRate = Math.round(PRODUCTS / seconds);
    rounds.push({
      round,
      floorPgSeconds: Number(floors.pg.seconds.toFixed(2)),
      floorBunSeconds: Number(floors.bun.seconds.toFixed(2)),
      floorProductsPerSecond: floorRate,
      replaySeconds: Number(seconds.toFixed(2)),
      replayProductsPerSecond: replayRate,
      ratio: Number((replayRate / floorRate).toFixed(2)),
      replayEventsPerSecond: Math.round((PRODUCTS * EVENTS) / seconds),
      progressReports: reports,
      replayCpuSeconds: Number((cpu.cores.replay! * seconds).toFixed(2)),
      redisCpuSeconds: Number(redisCpu.toFixed(2)),
      coresBusy: `${Math.round(cpu.busy * 100)} %`,
      rssBeforeMB: mb(rssBefore),
      rssPeakMB: mb(rssPeak),
    });
  }
  console.log(
    `\nreplay into an empty cache against the floor (one cursor over the same events, rows dropped; the faster of pg and Bun.SQL), ${new Date().toISOString()}, ${machine()}\n` +
      `${PRODUCTS} products × ${EVENTS} events, page size ${PAGE_SIZE}, ${PUT_BATCH_SIZE} entries per compare-and-set call, Redis ${args.aof ? "appendfsync always" : "without persistence"}; seeding took ${seedSeconds.toFixed(1)} s`,
  );
  console.table(rounds);
  const file = writeResult("replay", { products: PRODUCTS, eventsPerProduct: EVENTS, pageSize: PAGE_SIZE, putBatch: PUT_BATCH_SIZE, fetchRows: FETCH_ROWS, aof: args.aof, rounds });
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
