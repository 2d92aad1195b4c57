// A realistic mix: reads on a Zipf(0.99) key distribution over 100,000 products with 5 % writes,
// sent open loop at a fixed rate, measured twice in one run: from a cold cache, then in steady
// state, after a warm-up pass that reads every product once (as a replay or a long-running cache
// would have left it). Reports each phase's hit ratio, database reads per second (from the api's
// own metrics), and p50 / p99 of reads and writes from intended start.
//   bun bench/zipf.ts --help
import { parseArgs } from "node:util";
import { openLoop, summarize } from "./lib/open-loop.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { counter, machine, startStack, writeResult } from "./lib/stack.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    products: { type: "string", default: "100000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "30" },
    writes: { type: "string", default: "0.05" },
    s: { type: "string", default: "0.99" },
    "api-env": { type: "string", multiple: true, default: [] },
    "skip-cold": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length) {
  console.log(`bun bench/zipf.ts [options]: Zipf reads with writes, hit ratio from cold and in steady state (after a warm-up pass)
  --products N     products seeded (default 100000)
  --rate R         requests per second, open loop (default 1000)
  --seconds S      length of each measured phase (default 30)
  --writes F       share of PATCH writes (default 0.05; write-through is on)
  --s X            Zipf exponent (default 0.99)
  --api-env K=V    extra environment for the api process, repeatable (e.g. --api-env L1_ENABLED=false)
  --skip-cold      measure the steady state only (the warm-up pass still runs first)
Phases: cold (empty cache), warm-up (every product read once, not measured), steady (the same mix).
Run under flock /tmp/e2e.lock on a shared machine.`);
  process.exit(values.help ? 0 : 2);
}
const N = Number(values.products);
const S = Number(values.s);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const writeShare = Number(values.writes);
const apiEnv = Object.fromEntries(
  values["api-env"]!.map((kv) => {
    const i = kv.indexOf("=");
    if (i <= 0) throw new Error(`--api-env ${kv}: expected K=V`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);

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
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true", ...apiEnv });
  const metrics = async () => ({
    hits: await counter(api.url, "catalog_cache_events_total", 'event="hit"'),
    misses: await counter(api.url, "catalog_cache_events_total", 'event="miss"'),
    db: await counter(api.url, "catalog_db_reads_total"),
  });

  async function phase(name: string) {
    const before = await metrics();
    const run = await openLoop(RATE, SECONDS, async (i) => {
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
    const after = await metrics();
    const hits = after.hits - before.hits;
    const misses = after.misses - before.misses;
    return {
      phase: name,
      achievedRps: Math.round(run.sent / run.seconds),
      errors: run.errors,
      hits,
      misses,
      hitRatio: Number((hits / (hits + misses)).toFixed(5)),
      dbReadsPerSecond: Math.round((after.db - before.db) / run.seconds),
      reads: summarize(run.histograms.get("read")!),
      writes: summarize(run.histograms.get("write")!),
    };
  }

  const phases: Awaited<ReturnType<typeof phase>>[] = [];
  if (!values["skip-cold"]) phases.push(await phase("cold"));
  // The warm-up pass: every product read once, 100 at a time (what is already cached is a hit).
  const t0 = performance.now();
  for (let i = 1; i <= N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i + 1) }, (_, j) =>
        fetch(`${api.url}/products/${seededId(i + j)}`).then(async (r) => {
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`warm-up read of ${seededId(i + j)}: ${r.status}`);
        }),
      ),
    );
  }
  const warmupSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
  phases.push(await phase("steady"));

  const options = { products: N, zipfS: S, rate: RATE, seconds: SECONDS, writeShare, apiEnv };
  console.log(
    `\nZipf(${S}) over ${N} products, ${writeShare * 100} % writes (write-through on), ${RATE} req/s open loop for ${SECONDS} s per phase; warm-up pass (every product read once) ${warmupSeconds} s before "steady"; api env ${JSON.stringify(apiEnv)}; ${new Date().toISOString()}, ${machine()}`,
  );
  console.table(phases.map((p) => ({ phase: p.phase, "hit ratio %": (p.hitRatio * 100).toFixed(3), hits: p.hits, misses: p.misses, "db reads/s": p.dbReadsPerSecond, "achieved req/s": p.achievedRps, errors: p.errors })));
  console.table(
    phases.flatMap((p) => [
      { phase: p.phase, kind: "reads", ...p.reads },
      { phase: p.phase, kind: "writes", ...p.writes },
    ]),
  );
  console.log(`wrote ${writeResult("zipf", { options, warmupSeconds, phases })}`);
} finally {
  await stack.close();
}
process.exit(0);
