// Latency at a fixed arrival rate: half of the measured maximum, timed from each request's
// intended start (open loop), so queueing is not hidden.
//   bun bench/fixed-rate.ts [--seconds 30] [--fractions 0.5,0.25]
// First wrk finds the maximum rate of cache hits (closed loop, 32 connections); then the open-loop
// generator sends GET /products/:id on warm keys at each fraction of it. The generator runs on
// Bun's fetch and shares the two cores with the api, so half of wrk's maximum is close to what
// both together can sustain; the quarter shows the latency with headroom. Charts go to docs/img/.
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import { plot } from "./lib/chart.ts";
import { distribution, openLoop, summarize } from "./lib/open-loop.ts";
import { machine, startStack, startWarmApi, writeResult } from "./lib/stack.ts";
import { randomPathsScript, wrk } from "./lib/wrk.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "30" }, fractions: { type: "string", default: "0.5,0.25" } } });
const PRODUCTS = 1000;
const stack = await startStack("fixedrate");
try {
  const { api, paths } = await startWarmApi(stack, PRODUCTS);
  const max = await wrk(api.url, { seconds: 8, connections: 32, script: randomPathsScript(paths) });
  const runs: ({ fraction: number; rate: number; achievedRps: number; errors: number; distribution: [number, number][]; perSecond: { second: number; completed: number; p99ms: number }[] } & ReturnType<typeof summarize>)[] = [];
  for (const fraction of values.fractions!.split(",").map(Number)) {
    const rate = Math.round(max.requestsPerSecond * fraction);
    const run = await openLoop(rate, Number(values.seconds), async (i) => {
      const res = await fetch(api.url + paths[(i * 7919) % paths.length]);
      await res.arrayBuffer();
      return { kind: "read", ok: res.status === 200 };
    });
    const h = run.histograms.get("read")!;
    runs.push({ fraction, rate, achievedRps: Math.round(run.sent / run.seconds), errors: run.errors, ...summarize(h), distribution: distribution(h), perSecond: run.perSecond });
  }
  console.log(`\nfixed arrival rates (fractions of wrk's max ${Math.round(max.requestsPerSecond)} req/s) for ${values.seconds} s each, timed from intended start, ${new Date().toISOString()}, ${machine()}`);
  console.table(runs.map(({ distribution: _d, perSecond: _p, ...r }) => r));
  await plot(
    "docs/img/fixed-rate-latency.png",
    (d) => `set title "GET /products/:id at fixed arrival rates (open loop, from intended start)"
set xlabel "percentile"; set ylabel "latency (ms)"; set logscale x; set logscale y; set grid
set xtics ("50" 2, "90" 10, "99" 100, "99.9" 1000, "99.99" 10000)
plot ${runs.map((r, i) => `"${d}/dist${i}.dat" using (1/(1-$1/100.0001)):2 with linespoints lw 2 title "${r.rate} req/s"`).join(", ")}`,
    Object.fromEntries(runs.map((r, i) => [`dist${i}.dat`, r.distribution.map(([p, v]) => `${p} ${Math.max(v, 0.001)}`).join("\n")])),
  );
  await plot(
    "docs/img/fixed-rate-over-time.png",
    (d) => `set title "p99 per second at fixed arrival rates"
set xlabel "second"; set ylabel "p99 (ms)"; set logscale y; set grid
plot ${runs.map((r, i) => `"${d}/sec${i}.dat" using 1:3 with lines lw 2 title "${r.rate} req/s"`).join(", ")}`,
    Object.fromEntries(runs.map((r, i) => [`sec${i}.dat`, r.perSecond.map((s) => `${s.second} ${s.completed} ${Math.max(s.p99ms, 0.001)}`).join("\n")])),
  );
  console.log(`charts: docs/img/fixed-rate-latency.png, docs/img/fixed-rate-over-time.png`);
  console.log(`wrote ${writeResult("fixed-rate", { maxRps: Math.round(max.requestsPerSecond), runs })}`);
} finally {
  await stack.close();
}
process.exit(0);
