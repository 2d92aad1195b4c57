// Commit-to-cache latency of the pipeline (api → outbox → relay → Kafka → consumer → Redis).
//   bun bench/commit-to-cache.ts [--rate 200] [--seconds 60] [--sweep] [--cluster]
// An isolated pipeline (own database, topics, and a Redis server of its own with keyspace
// notifications on) and the real processes; the api's write-through is off, so only the pipeline
// writes the cache. Writes are sent open-loop at a fixed rate (each at its intended start time, so
// a slow system cannot slow the load down); a write's latency runs from its HTTP acknowledgement
// (the commit) to Redis announcing the SET of its key. --sweep then steps the rate up to find the
// highest one whose p99 stays under 100 ms. --cluster runs it on a three-node Kafka cluster of its
// own (scripts/kafka-cluster.sh on ports 29092-29097, topics with three replicas and
// min.insync.replicas=2) instead of the single broker. Prints a table and writes bench/results/*.json.
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import Redis from "ioredis";
import { decodeEntry } from "../src/infra/cache-format.ts";
import { createPipeline, http, openLoopWrites, quantile } from "../test/support/pipeline.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";

const { values: args } = parseArgs({
  options: {
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "60" },
    sweep: { type: "boolean", default: false },
    products: { type: "string", default: "1000" },
    cluster: { type: "boolean", default: false },
  },
});
const PRODUCTS = Number(args.products);

const clusterEnv = { ...process.env, KAFKA_CLUSTER_BASE_PORT: "29092", KAFKA_CLUSTER_DIR: `${process.cwd()}/.run/kafka-cluster-bench` };
const cluster = (...a: string[]) => {
  const r = Bun.spawnSync(["bash", "scripts/kafka-cluster.sh", ...a], { env: clusterEnv });
  if (r.exitCode !== 0) throw new Error(`kafka-cluster.sh ${a.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
};
if (args.cluster) cluster("start");
const redisServer = await startSpareRedis();
const p = await createPipeline("bench", { redisUrl: redisServer.url, ...(args.cluster ? { brokers: cluster("brokers"), replicas: 3 } : {}) });
try {
  await p.redis.config("SET", "notify-keyspace-events", "K$");
  const [api] = await Promise.all([p.startApi(), p.startRelay()]);
  await p.startConsumer("catalog", "rebuild");

  const ids = Array.from({ length: PRODUCTS }, (_, i) => `${p.prefix}-b${i}`);
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(ids.slice(i, i + 50).map((id) => http(api.url, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" })));
  }

  // When each version of each key first appeared in the cache: Redis announces every SET of a
  // key, and a GET right after reads which version it holds.
  const seen = new Map<string, number>(); // `${id}|${version}` → first seen
  const sub = new Redis(redisServer.url);
  const reader = new Redis(redisServer.url, { enableAutoPipelining: true });
  const channelPrefix = `__keyspace@0__:${p.prefix}:catalog:product:{`;
  await sub.psubscribe(`${channelPrefix}*`);
  sub.on("pmessage", (_pattern, channel) => {
    const id = channel.slice(channelPrefix.length, -1);
    const notified = performance.now();
    void reader.get(p.key("catalog", id)).then((value) => {
      const k = `${id}|${decodeEntry(value)?.version}`;
      if (!seen.has(k)) seen.set(k, notified);
    });
  });

  async function run(rate: number, seconds: number) {
    seen.clear();
    const total = rate * seconds;
    const { acks, elapsed, late } = await openLoopWrites(api.url, ids, rate, total);
    await Bun.sleep(2000); // let the pipeline drain
    const latencies: number[] = [];
    let missing = 0;
    for (const a of acks) {
      const at = seen.get(`${a.id}|${a.version}`);
      // Unobserved: a newer write of the same key landed first, so this version was never cached alone.
      if (at === undefined) missing++;
      else latencies.push(Math.max(0, at - a.at)); // < 0: the cache had it before the client heard back
    }
    latencies.sort((x, y) => x - y);
    return {
      rate,
      seconds,
      achievedRate: Math.round(total / elapsed),
      writes: total,
      lateStarts: late,
      unobserved: missing,
      p50: quantile(latencies, 0.5),
      p90: quantile(latencies, 0.9),
      p99: quantile(latencies, 0.99),
      max: latencies.at(-1) ?? NaN,
    };
  }

  const results = [await run(Number(args.rate), Number(args.seconds))];
  let ceilingFound = false;
  if (args.sweep) {
    for (const rate of [300, 400, 500, 600, 800, 1000, 1200, 1500, 2000]) {
      const r = await run(rate, 15);
      results.push(r);
      if (r.p99 >= 100 || r.achievedRate < rate * 0.95) {
        ceilingFound = true;
        break;
      }
    }
  }
  const best = results.filter((r) => r.p99 < 100 && r.achievedRate >= r.rate * 0.95).at(-1);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
  console.log(`\ncommit-to-cache latency (ms), ${PRODUCTS} products, ${args.cluster ? "three Kafka nodes (3 replicas, min.insync.replicas=2)" : "one Kafka broker"}, ${new Date().toISOString()}, ${machine}`);
  console.table(results.map((r) => ({ ...r, p50: r.p50.toFixed(1), p90: r.p90.toFixed(1), p99: r.p99.toFixed(1), max: r.max.toFixed(1) })));
  const verdict = !best ? "no rate kept p99 under 100 ms" : `highest rate with p99 < 100 ms: ${ceilingFound || !args.sweep ? "" : "at least "}${best.rate} writes/s`;
  console.log(verdict);
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/commit-to-cache-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, kafka: args.cluster ? "3 nodes" : "1 broker", products: PRODUCTS, results, verdict }, null, 2));
  console.log(`wrote ${file}`);
  sub.disconnect();
  reader.disconnect();
} finally {
  await p.close();
  await redisServer.dispose();
  if (args.cluster) cluster("reset");
}
process.exit(0);
