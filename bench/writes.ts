// Writes per second against what PostgreSQL itself does with the same transaction, in one run:
//   bun bench/writes.ts [--seconds 15] [--connections 16] [--floor-clients N] [--half-seconds 20] [--warmup 5]
//
// On one database (10,000 products seeded) and the api as a process (write-through on, as
// deployed), after --warmup seconds of the same writes through the api (not counted: Bun compiles
// the hot code in the first seconds), in this order:
//  1. the api's maximum: wrk sends PATCH /products/:id with a new price to random products, closed
//     loop, --connections connections, for --seconds;
//  2. the floor: pgbench (shipped with the PostgreSQL server) runs the write's transaction itself,
//     on the same database and products, with --floor-clients clients (default: --connections),
//     prepared statements, for --seconds: lock the snapshot row; insert the event; update the
//     snapshot; insert the outbox row (the envelope's JSON, built by the server); NOTIFY; commit.
//     The same script without the NOTIFY runs too, as the floor of a write that notifies after the
//     commit (as the api does since catalog_append: see src/infra/append-sql.ts);
//  3. the api at half its maximum rate, open loop (each request timed from its intended start, so
//     queueing counts), for --half-seconds: the latency with headroom.
// A CHECKPOINT precedes each step. wrk, pgbench and the open-loop generator share the machine's
// cores with the api, PostgreSQL and Redis. Prints the rates, their ratio and the latencies, and
// writes bench/results/writes-*.json. Needs wrk (bash bench/setup.sh). Run it under
// flock /tmp/e2e.lock on a shared machine.
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { cpuMeter } from "./lib/cpu.ts";
import { openLoop, summarize } from "./lib/open-loop.ts";
import { seedProducts } from "./lib/seed.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";
import { wrk } from "./lib/wrk.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: "string", default: "15" },
    connections: { type: "string", default: "16" },
    "floor-clients": { type: "string" },
    "half-seconds": { type: "string", default: "20" },
    warmup: { type: "string", default: "5" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length) {
  console.log(`bun bench/writes.ts [options]: the api's writes/s against pgbench running the same transaction, in one run
  --seconds S          length of the api's maximum (wrk) and of each pgbench run (default 15)
  --connections N      wrk connections to the api (default 16)
  --floor-clients N    pgbench clients (default: --connections)
  --half-seconds S     length of the open-loop run at half the api's maximum (default 20)
  --warmup S           writes through the api before the measured runs, not counted (default 5)
Needs wrk (bash bench/setup.sh) and pgbench (beside the PostgreSQL server, or PGBENCH=path).
Run under flock /tmp/e2e.lock on a shared machine.`);
  process.exit(values.help ? 0 : 2);
}

const PRODUCTS = 10_000;
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const floorClients = Number(values["floor-clients"] ?? connections);
const halfSeconds = Number(values["half-seconds"]);
const warmup = Number(values.warmup);

function findPgbench(): string {
  if (process.env.PGBENCH) return process.env.PGBENCH;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(`${root}/${v}/bin/pgbench`)) return `${root}/${v}/bin/pgbench`;
  const onPath = Bun.which("pgbench");
  if (onPath) return onPath;
  throw new Error("pgbench not found: install the PostgreSQL server package, or set PGBENCH");
}

// The api's write as pgbench runs it. Ids and prices as the wrk script picks them; the event's data
// and the outbox envelope of the same shape as the api's (src/usecases/outbox-envelopes.ts).
const id = `'p' || lpad(:n::text, 7, '0')`;
const floorScript = (notify: boolean) => `\\set n random(1, ${PRODUCTS})
\\set price random(1, 100000000)
BEGIN;
SELECT version + 1 AS v FROM product_snapshots WHERE id = ${id} FOR UPDATE \\gset
INSERT INTO events (event_id, product_id, version, type, schema_version, data, occurred_at)
  VALUES (gen_random_uuid(), ${id}, :v::int, 'ProductUpdated', 1, jsonb_build_object('priceCents', :price::bigint), now()) RETURNING event_id \\gset
UPDATE product_snapshots SET version = :v::int, price_cents = :price::bigint, updated_at = now() WHERE id = ${id};
INSERT INTO outbox (event_id, product_id, version, payload)
  VALUES (:event_id::uuid, ${id}, :v::int, jsonb_build_object('eventId', :event_id::text, 'productId', ${id}, 'version', :v::int, 'type', 'ProductUpdated', 'schemaVersion', 1, 'occurredAt', now(), 'data', jsonb_build_object('priceCents', :price::bigint), 'state', jsonb_build_object('id', ${id}, 'name', 'Product ' || :n::text, 'description', 'seeded for the benchmarks', 'priceCents', :price::bigint, 'currency', 'EUR', 'category', 'bench', 'version', :v::int, 'updatedAt', now())));
${notify ? "SELECT pg_notify('catalog_outbox', '');\n" : ""}END;
`;

type FloorResult = { tps: number; latencyMs: number; transactions: number; failed: number; busy: number };
async function pgbench(databaseUrl: string, notify: boolean): Promise<FloorResult> {
  const file = join(mkdtempSync(join(tmpdir(), "pgbench-")), "write.sql");
  writeFileSync(file, floorScript(notify));
  const u = new URL(databaseUrl);
  const args = [findPgbench(), "-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username) || "postgres", "-n", "-M", "prepared", "-c", String(floorClients), "-j", "2", "-T", String(seconds), "-f", file, u.pathname.slice(1)];
  const cpu = cpuMeter();
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const { busy } = cpu.stop();
  if (code !== 0) throw new Error(`pgbench failed (${code}): ${err || out}`);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    tps: Math.round(num(/tps = ([0-9.]+)/)),
    latencyMs: num(/latency average = ([0-9.]+) ms/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: num(/number of failed transactions: (\d+)/),
    busy,
  };
}

async function checkpoint(databaseUrl: string) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query("CHECKPOINT");
  await db.end();
}

const wrkScript = `math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local n = 0
request = function()
  n = n + 1
  local id = string.format("p%07d", math.random(${PRODUCTS}))
  return wrk.format("PATCH", "/products/" .. id, { ["Content-Type"] = "application/json" }, '{"priceCents":' .. n .. '}')
end
`;

const stack = await startStack("writes");
try {
  const databaseUrl = stack.pipeline.databaseUrl;
  await seedProducts(databaseUrl, PRODUCTS);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });

  if (warmup > 0) await wrk(api.url, { seconds: warmup, connections, script: wrkScript });

  // 1. The api's maximum.
  await checkpoint(databaseUrl);
  let cpu = cpuMeter({ api: api.pid });
  const max = await wrk(api.url, { seconds, connections, script: wrkScript });
  const maxCpu = cpu.stop();
  if (max.non2xx) throw new Error(`${max.non2xx} writes were not 2xx`);

  // 2. The floor, with the NOTIFY in each transaction, then without.
  await checkpoint(databaseUrl);
  const floor = await pgbench(databaseUrl, true);
  await checkpoint(databaseUrl);
  const floorNoNotify = await pgbench(databaseUrl, false);

  // 3. The api at half its maximum, open loop.
  await checkpoint(databaseUrl);
  const rate = Math.round(max.requestsPerSecond / 2);
  let price = 0;
  cpu = cpuMeter({ api: api.pid });
  const half = await openLoop(rate, halfSeconds, async (i) => {
    const res = await fetch(`${api.url}/products/p${String(1 + ((i * 7919) % PRODUCTS)).padStart(7, "0")}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ priceCents: ++price }),
    });
    await res.arrayBuffer();
    return { kind: "write", ok: res.status === 200 };
  });
  const halfCpu = cpu.stop();
  const halfSummary = summarize(half.histograms.get("write")!);

  const apiMax = Math.round(max.requestsPerSecond);
  const summary = {
    apiWritesPerSecond: apiMax,
    floorTps: floor.tps,
    ratio: Math.round((apiMax / floor.tps) * 100) / 100,
    floorNoNotifyTps: floorNoNotify.tps,
    ratioToNoNotify: Math.round((apiMax / floorNoNotify.tps) * 100) / 100,
    halfRate: rate,
    halfP50ms: halfSummary.p50ms,
    halfP99ms: halfSummary.p99ms,
  };
  console.log(
    `\nwrites: PATCH on ${PRODUCTS} products; api: wrk ${connections} connections ${seconds} s; floor: pgbench ${floorClients} clients, prepared, ${seconds} s; half rate: open loop ${halfSeconds} s; after ${warmup} s of warm-up; ${new Date().toISOString()}, ${machine()}`,
  );
  console.table([
    { run: "api, maximum (wrk, closed loop)", perSecond: apiMax, p50ms: max.p50, p90ms: max.p90, p99ms: max.p99, requests: max.requests, errors: max.non2xx, coresBusy: +maxCpu.busy.toFixed(2), apiCores: +maxCpu.cores.api!.toFixed(2) },
    { run: "floor: pgbench, NOTIFY in the transaction", perSecond: floor.tps, p50ms: null, p90ms: null, p99ms: null, requests: floor.transactions, errors: floor.failed, coresBusy: +floor.busy.toFixed(2), apiCores: null, latencyAvgMs: floor.latencyMs },
    { run: "floor: pgbench, no NOTIFY", perSecond: floorNoNotify.tps, p50ms: null, p90ms: null, p99ms: null, requests: floorNoNotify.transactions, errors: floorNoNotify.failed, coresBusy: +floorNoNotify.busy.toFixed(2), apiCores: null, latencyAvgMs: floorNoNotify.latencyMs },
    { run: `api at half its maximum (${rate}/s, open loop)`, perSecond: Math.round(halfSummary.count / half.seconds), p50ms: halfSummary.p50ms, p90ms: halfSummary.p90ms, p99ms: halfSummary.p99ms, requests: halfSummary.count, errors: half.errors, coresBusy: +halfCpu.busy.toFixed(2), apiCores: +halfCpu.cores.api!.toFixed(2) },
  ]);
  console.log(
    `api / floor: ${apiMax} / ${floor.tps} = ${summary.ratio}× (against the floor without NOTIFY: ${summary.ratioToNoNotify}×); p99 at half the maximum: ${summary.halfP99ms} ms`,
  );
  if (half.errors) throw new Error(`${half.errors} writes at half the maximum failed`);
  console.log(`wrote ${writeResult("writes", { summary, max, floor, floorNoNotify, half: { rate, ...halfSummary, errors: half.errors, perSecond: half.perSecond } })}`);
} finally {
  await stack.close();
}
process.exit(0);
