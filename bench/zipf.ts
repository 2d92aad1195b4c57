// A realistic mix: reads on a Zipf(0.99) key distribution over 100,000 products with 5 % writes,
// sent open loop at a fixed rate from a cold cache. Reports the hit ratio, database reads per
// second (from the api's own metrics), and p50 / p99 of reads and writes from intended start.
//   bun bench/zipf.ts [--products 100000] [--rate 1000] [--seconds 30] [--writes 0.05] [--s 0.99]
import { parseArgs } from "node:util";
import { openLoop, summarize } from "./lib/open-loop.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { counter, machine, startStack, writeResult } from "./lib/stack.ts";

const { values } = parseArgs({
  options: { products: { type: "string", default: "100000" }, rate: { type: "string", default: "1000" }, seconds: { type: "string", default: "30" }, writes: { type: "string", default: "0.05" }, s: { type: "string", default: "0.99" } },
});
const N = Number(values.products);
const S = Number(values.s);

// Zipf over ranks 1..N: P(k) ∝ 1 / k^s, sampled by binary search over the cumulative weights.
const cdf = new Float64Array(N);
let acc = 0;
for (let k = 1; k <= N; k++) cdf[k - 1] = acc += 1 / k ** S;
function zipf(): number {
  const u = Math.random() * acc;
  let lo = 0;
  let hi = N - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}
// Ranks are scattered over the ids, so the hot keys are not neighbours.
const idOfRank = (rank: number) => seededId(((rank * 2654435761) % N) + 1);

const stack = await startStack("zipf");
try {
  await seedProducts(stack.pipeline.databaseUrl, N);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  const before = { hits: await counter(api.url, "catalog_cache_events_total", 'event="hit"'), misses: await counter(api.url, "catalog_cache_events_total", 'event="miss"'), db: await counter(api.url, "catalog_db_reads_total") };
  const writeShare = Number(values.writes);
  const run = await openLoop(Number(values.rate), Number(values.seconds), async (i) => {
    const id = idOfRank(zipf());
    if (Math.random() < writeShare) {
      const res = await fetch(`${api.url}/products/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ priceCents: i }) });
      await res.arrayBuffer();
      return { kind: "write", ok: res.status === 200 };
    }
    const res = await fetch(`${api.url}/products/${id}`);
    await res.arrayBuffer();
    return { kind: "read", ok: res.status === 200 };
  });
  const after = { hits: await counter(api.url, "catalog_cache_events_total", 'event="hit"'), misses: await counter(api.url, "catalog_cache_events_total", 'event="miss"'), db: await counter(api.url, "catalog_db_reads_total") };
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  const summary = {
    products: N,
    zipfS: S,
    rate: Number(values.rate),
    achievedRps: Math.round(run.sent / run.seconds),
    writeShare,
    errors: run.errors,
    hitRatio: Number((hits / (hits + misses)).toFixed(4)),
    dbReadsPerSecond: Math.round((after.db - before.db) / run.seconds),
    reads: summarize(run.histograms.get("read")!),
    writes: summarize(run.histograms.get("write")!),
  };
  console.log(`\nZipf(${S}) over ${N} products, ${writeShare * 100} % writes, ${values.rate} req/s open loop for ${values.seconds} s from a cold cache, ${new Date().toISOString()}, ${machine()}`);
  console.table([{ hitRatio: summary.hitRatio, dbReadsPerSecond: summary.dbReadsPerSecond, achievedRps: summary.achievedRps, errors: summary.errors }]);
  console.table({ reads: summary.reads, writes: summary.writes });
  console.log(`wrote ${writeResult("zipf", { summary })}`);
} finally {
  await stack.close();
}
process.exit(0);
