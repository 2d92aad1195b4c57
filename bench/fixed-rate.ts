// Latency at a fixed arrival rate: half of the measured maximum, timed from each request's
// intended start (open loop), so queueing is not hidden.
//   bun bench/fixed-rate.ts [--seconds 30] [--fraction 0.5]
// First wrk finds the maximum rate of cache hits (closed loop, 32 connections); then the open-loop
// generator sends GET /products/:id on warm keys at `fraction` of it. Charts go to docs/img/.
import { parseArgs } from "node:util";
import { plot } from "./lib/chart.ts";
import { distribution, openLoop, summarize } from "./lib/open-loop.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";
import { randomPathsScript, wrk } from "./lib/wrk.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" }, fraction: { type: "string", default: "0.5" } } });
const PRODUCTS = 1000;
const stack = await startStack("fixedrate");
try {
  await seedProducts(stack.pipeline.databaseUrl, PRODUCTS);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  const paths = Array.from({ length: PRODUCTS }, (_, i) => `/products/${seededId(i + 1)}`);
  for (let i = 0; i < paths.length; i += 100) await Promise.all(paths.slice(i, i + 100).map((p) => fetch(api.url + p).then((r) => r.arrayBuffer())));
  const max = await wrk(api.url, { seconds: 8, connections: 32, script: randomPathsScript(paths) });
  const rate = Math.round(max.requestsPerSecond * Number(values.fraction));
  const run = await openLoop(rate, Number(values.seconds), async (i) => {
    const res = await fetch(api.url + paths[(i * 7919) % paths.length]);
    await res.arrayBuffer();
    return { kind: "read", ok: res.status === 200 };
  });
  const reads = summarize(run.histograms.get("read")!);
  const summary = { maxRps: Math.round(max.requestsPerSecond), rate, achievedRps: Math.round(run.sent / run.seconds), errors: run.errors, ...reads };
  console.log(`\nfixed arrival rate: ${rate} req/s (${values.fraction} × max ${summary.maxRps}) for ${values.seconds} s, timed from intended start, ${new Date().toISOString()}, ${machine()}`);
  console.table([summary]);
  const dist = distribution(run.histograms.get("read")!);
  await plot(
    "docs/img/fixed-rate-latency.png",
    (d) => `set title "GET /products/:id at ${rate} req/s (open loop, from intended start)"
set xlabel "percentile"; set ylabel "latency (ms)"; set logscale x; set grid
set xtics ("50" 2, "90" 10, "99" 100, "99.9" 1000, "99.99" 10000)
plot "${d}/dist.dat" using (1/(1-$1/100.0001)):2 with linespoints title "latency" lw 2`,
    { "dist.dat": dist.map(([p, v]) => `${p} ${v}`).join("\n") },
  );
  await plot(
    "docs/img/fixed-rate-over-time.png",
    (d) => `set title "Completed requests and p99 per second at ${rate} req/s"
set xlabel "second"; set ylabel "requests completed"; set y2label "p99 (ms)"; set y2tics; set ytics nomirror; set grid
plot "${d}/sec.dat" using 1:2 with lines lw 2 title "completed/s", "${d}/sec.dat" using 1:3 axes x1y2 with lines lw 2 title "p99 ms"`,
    { "sec.dat": run.perSecond.map((s) => `${s.second} ${s.completed} ${s.p99ms}`).join("\n") },
  );
  console.log(`charts: docs/img/fixed-rate-latency.png, docs/img/fixed-rate-over-time.png`);
  console.log(`wrote ${writeResult("fixed-rate", { summary, distribution: dist, perSecond: run.perSecond })}`);
} finally {
  await stack.close();
}
process.exit(0);
