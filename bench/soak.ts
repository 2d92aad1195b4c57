// Soak: a steady mixed load for a long time (30 minutes by default) while the api's memory (RSS
// from /proc) and latency are recorded every interval; reports their growth and draws both.
//   bun bench/soak.ts [--minutes 30] [--rate 300] [--interval 30]
// 10,000 products, reads on random keys with 5 % writes, open loop; the relay and a consumer run
// too, so the whole pipeline is under the load.
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { plot } from "./lib/chart.ts";
import { openLoop, summarize } from "./lib/open-loop.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";

const { values } = parseArgs({ options: { minutes: { type: "string", default: "30" }, rate: { type: "string", default: "300" }, interval: { type: "string", default: "30" } } });
const PRODUCTS = 10_000;
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

const stack = await startStack("soak");
try {
  await seedProducts(stack.pipeline.databaseUrl, PRODUCTS);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  await Promise.all([stack.pipeline.startRelay(), stack.pipeline.startConsumer("catalog", "rebuild")]);
  const intervals = Math.max(1, Math.round((Number(values.minutes) * 60) / Number(values.interval)));
  const samples: { minute: number; rssMb: number; p50ms: number; p99ms: number; rps: number; errors: number }[] = [];
  let n = 0;
  for (let k = 0; k < intervals; k++) {
    const run = await openLoop(Number(values.rate), Number(values.interval), async () => {
      const id = seededId(1 + Math.floor(Math.random() * PRODUCTS));
      const write = Math.random() < 0.05;
      const res = write
        ? await fetch(`${api.url}/products/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ priceCents: ++n }) })
        : await fetch(`${api.url}/products/${id}`);
      await res.arrayBuffer();
      return { kind: "all", ok: res.ok };
    });
    const s = summarize(run.histograms.get("all")!);
    samples.push({ minute: Number((((k + 1) * Number(values.interval)) / 60).toFixed(2)), rssMb: Number(rssMb(api.pid).toFixed(1)), p50ms: s.p50ms, p99ms: s.p99ms, rps: Math.round(run.sent / run.seconds), errors: run.errors });
    console.log(JSON.stringify(samples.at(-1)));
  }
  // Growth after the first interval (warm-up: caches fill, JIT settles).
  const first = samples[Math.min(1, samples.length - 1)]!;
  const last = samples.at(-1)!;
  const hours = Math.max((last.minute - first.minute) / 60, 1 / 60);
  const summary = {
    minutes: Number(values.minutes),
    rate: Number(values.rate),
    rssStartMb: first.rssMb,
    rssEndMb: last.rssMb,
    rssGrowthMbPerHour: Number(((last.rssMb - first.rssMb) / hours).toFixed(1)),
    rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    p99FirstMs: first.p99ms,
    p99LastMs: last.p99ms,
    p99MaxMs: Math.max(...samples.map((s) => s.p99ms)),
    errors: samples.reduce((e, s) => e + s.errors, 0),
  };
  console.log(`\nsoak: ${values.minutes} min at ${values.rate} req/s (5 % writes), ${new Date().toISOString()}, ${machine()}`);
  console.table([summary]);
  await plot(
    "docs/img/soak.png",
    (d) => `set title "Soak: api memory and latency at ${values.rate} req/s"
set xlabel "minute"; set ylabel "RSS (MB)"; set y2label "latency (ms)"; set y2tics; set ytics nomirror; set grid; set key left top
plot "${d}/s.dat" using 1:2 with linespoints lw 2 title "RSS MB", "${d}/s.dat" using 1:3 axes x1y2 with lines lw 2 title "p50 ms", "${d}/s.dat" using 1:4 axes x1y2 with lines lw 2 title "p99 ms"`,
    { "s.dat": samples.map((s) => `${s.minute} ${s.rssMb} ${s.p50ms} ${s.p99ms}`).join("\n") },
  );
  console.log(`chart: docs/img/soak.png\nwrote ${writeResult("soak", { summary, samples })}`);
} finally {
  await stack.close();
}
process.exit(0);
