// One api instance against two, sharing one PostgreSQL database and one Redis server: cache hits/s
// and writes/s, with the same load generator in both configurations, in the same run.
//   bun bench/instances.ts [--rounds 3] [--seconds 5] [--write-seconds 10] [--connections 32]
//                          [--write-connections 16] [--threads 2]
// Needs wrk (bash bench/setup.sh installs it beside scripts/setup.sh).
//
// Starts its own database (10,000 products seeded, all cached), its own Redis server and two api
// processes on two ports. wrk runs with --threads threads (2: one per api); in the "2 apis"
// configuration its threads are spread round robin over the two apis (each connection stays on
// one api, and each api gets half of the connections), in the "1 api" configuration every thread
// goes to the first api while the second sits idle. Three workloads, each run per configuration
// and round (the order of the configurations alternates between rounds): GET /healthz (no I/O),
// GET /products/:id on 1,000 warm keys (cache hits), and PATCH with a new price to random products
// among the 10,000 (write-through on, as deployed). It also records how busy the machine's cores
// were and how much CPU each api and Redis used. Medians over the rounds; prints a table and
// writes bench/results/instances-*.json.
//
// On a machine with two cores, two apis compete for the same cores with each other, with Redis,
// PostgreSQL and wrk: the comparison says what a second process on the same cores buys, not what
// a second machine would.
import os from "node:os";
import { parseArgs } from "node:util";
import { cpuMeter } from "./lib/cpu.ts";
import { machine, startStack, startWarmApi, writeResult } from "./lib/stack.ts";
import { median, randomPathsScript, spreadScript, wrk, type WrkResult } from "./lib/wrk.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    "write-seconds": { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    "write-connections": { type: "string", default: "16" },
    threads: { type: "string", default: "2" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length) {
  console.log(`bun bench/instances.ts [options]: 1 vs 2 api instances (cache hits/s and writes/s), sharing PostgreSQL and Redis
  --rounds N             rounds of every workload and configuration (default 3; medians are reported)
  --seconds S            length of each /healthz and cache-hit run (default 5)
  --write-seconds S      length of each write run (default 10)
  --connections N        wrk connections for /healthz and hits (default 32)
  --write-connections N  wrk connections for writes (default 16)
  --threads N            wrk threads, spread round robin over the apis (default 2)
Needs wrk: bash bench/setup.sh. Run under flock /tmp/e2e.lock on a shared machine.`);
  process.exit(values.help ? 0 : 2);
}
const PRODUCTS = 10_000;
const HOT = 1000; // warm keys the cache-hit runs read
const rounds = Number(values.rounds);
const threads = Number(values.threads);

const writeScript = `math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local n = 0
request = function()
  n = n + 1
  local id = string.format("p%07d", math.random(${PRODUCTS}))
  return wrk.format("PATCH", "/products/" .. id, { ["Content-Type"] = "application/json" }, '{"priceCents":' .. n .. '}')
end
`;

type Run = WrkResult & { busy: number; apiCores: number; redisCores: number };
const configs = [1, 2] as const;
const workloads = ["healthz", "hits", "writes"] as const;

const loadAtStart = os.loadavg().map((x) => x.toFixed(2)).join(" "); // other work on the machine makes the numbers noisy
const stack = await startStack("instances");
try {
  const { api: first, paths } = await startWarmApi(stack, PRODUCTS);
  const second = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  const apis = [first, second];
  const redisPid = Number(/process_id:(\d+)/.exec(await stack.pipeline.redis.info("server"))?.[1]);
  const hitsScript = randomPathsScript(paths.slice(0, HOT));

  async function measure(workload: (typeof workloads)[number], instances: 1 | 2, seconds: number): Promise<Run> {
    const urls = apis.slice(0, instances).map((a) => a.url);
    const script = spreadScript(urls) + (workload === "hits" ? hitsScript : workload === "writes" ? writeScript : "");
    const target = workload === "healthz" ? `${first.url}/healthz` : first.url;
    const connections = Number(workload === "writes" ? values["write-connections"] : values.connections);
    const meter = cpuMeter({ first: first.pid, second: second.pid, redis: redisPid });
    const r = await wrk(target, { seconds, connections, threads, script });
    const { busy, cores } = meter.stop();
    if (r.non2xx) throw new Error(`${workload}, ${instances} api(s): ${r.non2xx} answers were not 2xx`);
    return { ...r, busy, apiCores: cores.first! + cores.second!, redisCores: cores.redis! };
  }

  // Warm-up: both apis and wrk, on every route.
  for (const n of configs) {
    await measure("healthz", n, 2);
    await measure("hits", n, 2);
  }
  const runs: { round: number; workload: string; instances: number; run: Run }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? configs : ([...configs].reverse() as (1 | 2)[]);
    for (const workload of workloads) {
      for (const instances of order) {
        const seconds = Number(workload === "writes" ? values["write-seconds"] : values.seconds);
        const run = await measure(workload, instances, seconds);
        runs.push({ round, workload, instances, run });
        console.log(`round ${round}, ${workload}, ${instances} api(s): ${Math.round(run.requestsPerSecond)} req/s, p99 ${run.p99} ms, cores busy ${(run.busy * 100).toFixed(0)} %, apis ${run.apiCores.toFixed(2)} cores, redis ${run.redisCores.toFixed(2)}`);
      }
    }
  }

  const med = (workload: string, instances: number, f: (r: Run) => number) => median(runs.filter((x) => x.workload === workload && x.instances === instances).map((x) => f(x.run)));
  const summary = workloads.map((workload) => {
    const row = (n: number) => ({
      rps: Math.round(med(workload, n, (r) => r.requestsPerSecond)),
      p50ms: med(workload, n, (r) => r.p50),
      p99ms: med(workload, n, (r) => r.p99),
      busyPercent: Math.round(med(workload, n, (r) => r.busy) * 100),
      apiCores: Number(med(workload, n, (r) => r.apiCores).toFixed(2)),
      redisCores: Number(med(workload, n, (r) => r.redisCores).toFixed(2)),
    });
    const one = row(1);
    const two = row(2);
    // Each round's 2-api rate over the same round's 1-api rate: how much of the spread is noise.
    const perRound = Array.from({ length: rounds }, (_, i) => {
      const rate = (n: number) => runs.find((x) => x.round === i + 1 && x.workload === workload && x.instances === n)!.run.requestsPerSecond;
      return rate(2) / rate(1);
    }).sort((a, b) => a - b);
    return { workload, one, two, ratio: Number((two.rps / one.rps).toFixed(2)), roundRatios: perRound.map((r) => Number(r.toFixed(2))) };
  });
  console.log(
    `\n1 vs 2 api instances (sharing PostgreSQL and Redis), wrk ${threads} threads, ${values.connections} connections (writes ${values["write-connections"]}), ${values.seconds} s (writes ${values["write-seconds"]} s) × ${rounds} rounds, medians; ${new Date().toISOString()}, ${machine()}; load average at the start ${loadAtStart}`,
  );
  console.table(
    summary.flatMap((s) => [
      { workload: s.workload, apis: 1, "req/s": s.one.rps, "p50 ms": s.one.p50ms, "p99 ms": s.one.p99ms, "cores busy %": s.one.busyPercent, "api cores": s.one.apiCores, "redis cores": s.one.redisCores, "2/1": "", "2/1 per round": "" },
      { workload: s.workload, apis: 2, "req/s": s.two.rps, "p50 ms": s.two.p50ms, "p99 ms": s.two.p99ms, "cores busy %": s.two.busyPercent, "api cores": s.two.apiCores, "redis cores": s.two.redisCores, "2/1": s.ratio.toFixed(2), "2/1 per round": `${s.roundRatios[0]}-${s.roundRatios.at(-1)}` },
    ]),
  );
  console.log("two apis here share the same two cores with each other, Redis, PostgreSQL and wrk");
  console.log(`wrote ${writeResult("instances", { options: values, loadAtStart, runs, summary })}`);
} finally {
  await stack.close();
}
process.exit(0);
