// What a read barrier's wait costs an Elysia route on Bun, without the rest of the api: the same
// response (the L1 hit's body and headers) answered five ways, each driven by wrk in turn, rounds
// interleaved, in one run.
//   bun bench/await-cost.ts [--rounds 3] [--seconds 3] [--connections 32]
//   sync          the route returns the Response (as an L1 hit without the barrier does)
//   async         an async route that awaits nothing
//   await-tick    awaits the read barrier's own shared MGET (src/infra/coalesced-reads.ts: one read
//                 per event-loop turn, sent on setImmediate), as an L1 hit with the barrier does
//   await-queued  awaits one MGET in flight at a time, later callers sharing the next, sent when
//                 it returns (the barrier's reads before 2026-11-29 19:00, kept here to compare)
//   await-own     awaits an MGET of its own (one Redis round trip per request, as a Redis hit)
// Prints req/s per arm and its ratio to `sync` (medians over the rounds); writes bench/results/await-cost-*.json.
import "../scripts/lib/help.ts";
import { parseArgs } from "node:util";
import { Elysia } from "elysia";
import Redis from "ioredis";
import { coalescedReads } from "../src/infra/coalesced-reads.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";
import { machine, writeResult } from "./lib/stack.ts";
import { median, wrk } from "./lib/wrk.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "3" }, connections: { type: "string", default: "32" } } });
const redisServer = await startSpareRedis({ persistent: false });
const redis = new Redis(redisServer.url);
await redis.mset("fence", "e1", "seq", "0");

const body = JSON.stringify({ id: "p0000001", name: "Product 1", description: "seeded for the benchmarks", priceCents: 105, currency: "EUR", category: "bench", version: 5 });
const headers = new Headers({ "content-type": "application/json", etag: '"5"', "x-cache": "hit", "cache-status": "catalog-cache; hit; detail=l1" });
const respond = () => new Response(body, { headers });
const read = () => redis.mget("fence", "seq");

const perTurn = coalescedReads(read);
// One read in flight; callers arriving meanwhile share the next, sent when it returns.
let inFlight: Promise<unknown> | null = null;
let queuedNext: Promise<unknown> | null = null;
function queued(): Promise<unknown> {
  if (!inFlight) return (inFlight = read().finally(() => (inFlight = null)));
  return (queuedNext ??= inFlight
    .catch(() => {})
    .then(() => {
      queuedNext = null;
      return queued();
    }));
}

const arms = {
  sync: () => respond(),
  async: async () => respond(),
  "await-tick": async () => (await perTurn.next(0), respond()),
  "await-queued": async () => (await queued(), respond()),
  "await-own": async () => (await read(), respond()),
} as const;
type Arm = keyof typeof arms;
const app = new Elysia();
for (const [name, handler] of Object.entries(arms)) app.get(`/${name}`, handler);
app.listen({ port: 0, hostname: "127.0.0.1" });
const base = `http://127.0.0.1:${app.server!.port}`;

try {
  const opts = { seconds: Number(values.seconds), connections: Number(values.connections) };
  await wrk(`${base}/sync`, { ...opts, seconds: 2 }); // warm-up
  const rps: Record<Arm, number[]> = Object.fromEntries(Object.keys(arms).map((a) => [a, []])) as never;
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const arm of Object.keys(arms) as Arm[]) {
      const res = await wrk(`${base}/${arm}`, opts);
      if (res.non2xx) throw new Error(`${arm}: ${res.non2xx} answers were not 200`);
      rps[arm].push(Math.round(res.requestsPerSecond));
    }
  }
  const sync = median(rps.sync);
  const rows = (Object.keys(arms) as Arm[]).map((arm) => ({ arm, reqPerSecond: median(rps[arm]), rounds: rps[arm].join(" / "), vsSync: Number((median(rps[arm]) / sync).toFixed(2)) }));
  console.log(`\nthe same response five ways, ${opts.connections} connections, ${values.rounds} rounds of ${opts.seconds} s, ${new Date().toISOString()}, ${machine()}`);
  console.table(rows);
  console.log(`wrote ${writeResult("await-cost", { connections: opts.connections, seconds: opts.seconds, rows })}`);
} finally {
  await app.stop();
  redis.disconnect();
  await redisServer.dispose();
}
process.exit(0);
