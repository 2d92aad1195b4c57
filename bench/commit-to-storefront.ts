// Commit-to-storefront latency: from a write's HTTP acknowledgement by the catalog api to the
// storefront service serving that version (api → outbox → relay → Kafka → the storefront's evict
// consumer writes a marker → the next read misses and reads the api with ?minVersion=N → served).
//   bun bench/commit-to-storefront.ts [--rate 200] [--seconds 60] [--products 1000]
// An isolated pipeline (own database, topics, a Redis server of its own with keyspace
// notifications on) and the real processes: the api (write-through on, as deployed), the relay,
// the storefront's evict consumer and the storefront. Writes go open-loop at a fixed rate; when
// Redis announces a marker in the storefront namespace, a reader asks the storefront at once, and
// the first answer at that version (or newer) ends the write's latency. Prints a table and writes
// bench/results/*.json.
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import Redis from "ioredis";
import { decodeEntry } from "../src/infra/cache-format.ts";
import { createPipeline, http, openLoopWrites, quantile } from "../test/support/pipeline.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";

const { values: args } = parseArgs({ options: { rate: { type: "string", default: "200" }, seconds: { type: "string", default: "60" }, products: { type: "string", default: "1000" } } });
const PRODUCTS = Number(args.products);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);

const redisServer = await startSpareRedis();
const p = await createPipeline("sfbench", { redisUrl: redisServer.url });
try {
  await p.redis.config("SET", "notify-keyspace-events", "K$");
  const [api] = await Promise.all([p.startApi({ CACHE_WRITE_THROUGH: "true" }), p.startRelay(), p.startConsumer("storefront", "evict")]);
  const store = await p.startStorefront(api.url);

  const ids = Array.from({ length: PRODUCTS }, (_, i) => `${p.prefix}-s${i}`);
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(ids.slice(i, i + 50).map((id) => http(api.url, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" })));
  }

  // `${id}|${version}` → when the storefront first served that version or a newer one.
  const served = new Map<string, number>();
  const newest = new Map<string, number>();
  const sub = new Redis(redisServer.url);
  const reader = new Redis(redisServer.url, { enableAutoPipelining: true });
  const channelPrefix = `__keyspace@0__:${p.prefix}:storefront:product:{`;
  await sub.psubscribe(`${channelPrefix}*`);
  let reads = 0;
  sub.on("pmessage", (_pattern, channel) => {
    const id = channel.slice(channelPrefix.length, -1);
    void reader.get(p.key("storefront", id)).then(async (value) => {
      const entry = decodeEntry(value);
      if (entry?.kind !== "m") return; // a fill of the storefront's own
      reads++;
      const r = await http(store.url, "GET", `/products/${id}`);
      if (r.status !== 200) return;
      const at = performance.now();
      const before = newest.get(id) ?? 0;
      if (r.body.version <= before) return;
      newest.set(id, r.body.version);
      for (let v = before + 1; v <= r.body.version; v++) if (!served.has(`${id}|${v}`)) served.set(`${id}|${v}`, at);
    });
  });
  for (const id of ids) newest.set(id, 1);

  const total = RATE * SECONDS;
  const { acks, elapsed, late } = await openLoopWrites(api.url, ids, RATE, total);
  await Bun.sleep(3000); // let the pipeline drain
  const latencies: number[] = [];
  let unobserved = 0;
  for (const a of acks) {
    const at = served.get(`${a.id}|${a.version}`);
    if (at === undefined) unobserved++;
    else latencies.push(Math.max(0, at - a.at));
  }
  latencies.sort((x, y) => x - y);
  const result = {
    rate: RATE,
    seconds: SECONDS,
    achievedRate: Math.round(total / elapsed),
    writes: total,
    lateStarts: late,
    storefrontReads: reads,
    unobserved,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    max: latencies.at(-1) ?? NaN,
  };
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
  console.log(`\ncommit-to-storefront latency (ms), ${PRODUCTS} products, ${new Date().toISOString()}, ${machine}`);
  console.table([{ ...result, p50: result.p50.toFixed(1), p90: result.p90.toFixed(1), p99: result.p99.toFixed(1), max: result.max.toFixed(1) }]);
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/commit-to-storefront-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, products: PRODUCTS, result }, null, 2));
  console.log(`wrote ${file}`);
  sub.disconnect();
  reader.disconnect();
} finally {
  await p.close();
  await redisServer.dispose();
}
process.exit(0);
