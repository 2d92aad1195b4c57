// Read hits against the same process's health check, measured in the same run.
//   bun bench/read-hits.ts [--rounds 3] [--seconds 5] [--connections 32]
// 1,000 products, all cached (warmed with one read each); wrk alternates GET /healthz (a route that
// does no I/O) and GET /products/:id on random warm keys, several rounds, and the ratio of the two
// in each round says what a cache hit costs on top of the framework. Medians over the rounds.
// With L1_ENABLED=true in the environment the api serves the hits from its near cache. Also
// reports how many commands Redis ran per hit (INFO stats; the bench's Redis serves this api only).
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import Redis from "ioredis";
import { machine, startStack, startWarmApi, writeResult } from "./lib/stack.ts";
import { median, randomPathsScript, wrk, type WrkResult } from "./lib/wrk.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "5" }, connections: { type: "string", default: "32" } } });
const PRODUCTS = 1000;
const stack = await startStack("readhits");
try {
  const { api, paths } = await startWarmApi(stack, PRODUCTS);
  const opts = { seconds: Number(values.seconds), connections: Number(values.connections) };
  await wrk(`${api.url}/healthz`, { ...opts, seconds: 2 }); // warm-up
  // Redis's own count of the commands it ran (the bench's Redis serves only this api), per hit.
  const info = new Redis(stack.redisServer.url);
  const commandsProcessed = async () => Number(/total_commands_processed:(\d+)/.exec(await info.info("stats"))![1]);
  const rounds: { healthz: WrkResult; hits: WrkResult; ratio: number; redisCommandsPerHit: number }[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    // Both arms drive wrk through the same Lua request function (a random pick from a list, then
    // wrk.format), so the load generator, which shares the machine's cores, costs the same in each.
    const healthz = await wrk(api.url, { ...opts, script: randomPathsScript(["/healthz"]) });
    const before = await commandsProcessed();
    const hits = await wrk(api.url, { ...opts, script: randomPathsScript(paths) });
    const redisCommandsPerHit = ((await commandsProcessed()) - before) / hits.requests;
    if (hits.non2xx) throw new Error(`${hits.non2xx} reads were not 200`);
    rounds.push({ healthz, hits, ratio: hits.requestsPerSecond / healthz.requestsPerSecond, redisCommandsPerHit });
  }
  const summary = {
    healthzRps: Math.round(median(rounds.map((r) => r.healthz.requestsPerSecond))),
    hitsRps: Math.round(median(rounds.map((r) => r.hits.requestsPerSecond))),
    ratio: Number(median(rounds.map((r) => r.ratio)).toFixed(2)),
    hitsP50ms: median(rounds.map((r) => r.hits.p50)),
    hitsP99ms: median(rounds.map((r) => r.hits.p99)),
    healthzP50ms: median(rounds.map((r) => r.healthz.p50)),
    healthzP99ms: median(rounds.map((r) => r.healthz.p99)),
    redisCommandsPerHit: Number(median(rounds.map((r) => r.redisCommandsPerHit)).toFixed(3)),
  };
  info.disconnect();
  console.log(`\nread hits vs /healthz, ${opts.connections} connections, ${opts.seconds} s × ${rounds.length} rounds each, ${new Date().toISOString()}, ${machine()}`);
  console.table(rounds.map((r, i) => ({ round: i + 1, "healthz rps": Math.round(r.healthz.requestsPerSecond), "hits rps": Math.round(r.hits.requestsPerSecond), ratio: r.ratio.toFixed(2), "hits p50 ms": r.hits.p50, "hits p99 ms": r.hits.p99, "redis commands / hit": r.redisCommandsPerHit.toFixed(3) })));
  console.log(summary);
  console.log(`wrote ${writeResult("read-hits", { options: opts, rounds, summary })}`);
} finally {
  await stack.close();
}
process.exit(0);
