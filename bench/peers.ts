// Peers in the same run (issue 12, item 4): the same product route (Elysia on Bun, the same
// PostgreSQL rows, the same Redis server) served three ways, each by real processes:
//   - catalog-cache: the api as built (src/main.ts, write-through on), with whatever extra env it
//     is given (--api-env, --catalog), so the column can be rerun as the api changes;
//   - bentocache: BentoCache 1.6, memory L1 + Redis L2 + Redis bus, delete on write
//     (bench/peers/bentocache.ts);
//   - cache-manager: cache-manager 7 over Keyv's Redis store, plain cache-aside, delete on write
//     (bench/peers/cache-manager.ts).
// The peers read the snapshot row on a miss and write with the project's own command (the same
// transaction as the api's), then invalidate: see bench/peers/serve.ts.
//
// For each system:
//   (a) hits: wrk on GET /healthz and on GET /products/:id over 1,000 warm products, on the same
//       process, alternating, several rounds (the order of the systems rotates between rounds);
//       the ratio hits / healthz per round, medians;
//   (b) the stale-fill race: writers and readers on a few hot products of the system's own, through
//       all of its instances round robin (as behind a load balancer), for a fixed time; a reader
//       counts a read that returned a version older than one it had already seen of that product;
//   (c) after the load stops and a quiet period far shorter than every TTL (1 h everywhere): Redis
//       entries older than the database, and answers older than the database from each instance
//       (which is where an in-process L1 shows).
//   bun bench/peers.ts --help
import type Redis from "ioredis";
import { parseArgs } from "node:util";
import { decodeEntry } from "../src/infra/cache-format.ts";
import { BUN, spawn, type Proc } from "../test/support/processes.ts";
import { waitFor } from "../test/support/services.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { counter, machine, startStack, writeResult } from "./lib/stack.ts";
import { median, randomPathsScript, wrk, type WrkResult } from "./lib/wrk.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    instances: { type: "string", default: "2" },
    hot: { type: "string", default: "4" },
    writers: { type: "string", default: "4" },
    readers: { type: "string", default: "8" },
    "race-seconds": { type: "string", default: "10" },
    "quiet-ms": { type: "string", default: "3000" },
    "api-env": { type: "string", multiple: true, default: [] },
    catalog: { type: "string", multiple: true, default: [] },
    peers: { type: "string", default: "bentocache,cache-manager" },
    "with-pipeline": { type: "boolean", default: false },
    "skip-hits": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length) {
  console.log(`bun bench/peers.ts [options]: catalog-cache, BentoCache and cache-manager on the same route, rows and Redis, in one run
  --rounds N            rounds of the hit measurement (default 3; medians are reported)
  --seconds S           length of each wrk run, /healthz and hits (default 5)
  --connections N       wrk connections (default 32)
  --instances N         processes per system; hits are measured on the first (default 2)
  --hot N               hot products per system in the race (default 4)
  --writers N           concurrent writers in the race (default 4)
  --readers N           concurrent readers in the race (default 8)
  --race-seconds S      length of the race (default 10)
  --quiet-ms MS         quiet period after the race before the caches are compared with the database (default 3000)
  --api-env K=V         extra environment for every catalog-cache api process, repeatable (e.g. --api-env L1_ENABLED=true)
  --catalog LABEL[:K=V,K=V]
                        a catalog-cache column with its own extra environment, repeatable; each gets its own
                        cache namespace (default: one column "catalog-cache" with no extra environment)
  --peers LIST          which peers to run, comma-separated (default bentocache,cache-manager; "" for none)
  --with-pipeline       also run the relay and a rebuild consumer per catalog-cache column (default: the apis alone)
  --skip-hits           skip the hit measurement (a): the race and the check after it only
Needs wrk (bash bench/setup.sh) and Kafka up (the stack creates its topics). Run under flock /tmp/e2e.lock.`);
  process.exit(values.help ? 0 : 2);
}

const kv = (pairs: string[], what: string) =>
  Object.fromEntries(
    pairs.filter(Boolean).map((p) => {
      const i = p.indexOf("=");
      if (i <= 0) throw new Error(`${what} ${p}: expected K=V`);
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
const apiEnv = kv(values["api-env"]!, "--api-env");
const catalogColumns = (values.catalog!.length ? values.catalog! : ["catalog-cache"]).map((spec) => {
  const i = spec.indexOf(":");
  return i < 0 ? { label: spec, env: {} } : { label: spec.slice(0, i), env: kv(spec.slice(i + 1).split(","), "--catalog") };
});
const peerKinds = values.peers!.split(",").filter(Boolean);
for (const p of peerKinds) if (p !== "bentocache" && p !== "cache-manager") throw new Error(`--peers: unknown peer ${p}`);
const INSTANCES = Number(values.instances);
const HOT = Number(values.hot);
const HIT_PRODUCTS = 1000;
const opts = { seconds: Number(values.seconds), connections: Number(values.connections) };

/** Reads and misses as the process counts them; for catalog-cache also its near cache's (L1) hits and misses. */
type Stats = { reads: number; misses: number; l1Hits?: number; l1Misses?: number };
type Instance = { url: string; pid: number; proc: Proc; stats: () => Promise<Stats> };
/** A cache entry as Redis holds it: its version, and whether it would be served (a marker is not). */
type Entry = { version: number; servable: boolean } | null;
type System = { name: string; env: Record<string, string>; instances: Instance[]; hotIds: string[]; entries: (ids: string[]) => Promise<Entry[]> };

const startedAt = performance.now();
// What the catalog-cache column ran: the api is this checkout's src/, committed or not.
const git = (args: string[]) => Bun.spawnSync(["git", ...args]).stdout.toString().trim();
const revision = { head: git(["rev-parse", "--short", "HEAD"]), uncommittedInSrc: git(["status", "--porcelain", "src"]).split("\n").filter(Boolean).length };
const loadAtStart = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
const stack = await startStack("peers");
const peerProcs: Proc[] = [];
try {
  const { pipeline } = stack;
  const systemCount = catalogColumns.length + peerKinds.length;
  await seedProducts(pipeline.databaseUrl, HIT_PRODUCTS + systemCount * HOT);
  const hotIdsOf = (s: number) => Array.from({ length: HOT }, (_, j) => seededId(HIT_PRODUCTS + s * HOT + j + 1));
  const systems: System[] = [];

  // catalog-cache: the api processes, each column in a namespace of its own.
  for (const [c, col] of catalogColumns.entries()) {
    const namespace = c === 0 ? "catalog" : `catalog${c + 1}`;
    const env = { CACHE_WRITE_THROUGH: "true", CACHE_NAMESPACE: namespace, ...apiEnv, ...col.env };
    const instances: Instance[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const api = await pipeline.startApi(env);
      instances.push({
        url: api.url,
        pid: api.pid,
        proc: api,
        async stats() {
          const hits = await counter(api.url, "catalog_cache_events_total", 'event="hit"');
          const misses = await counter(api.url, "catalog_cache_events_total", 'event="miss"');
          const l1Hits = await counter(api.url, "catalog_l1_events_total", 'event="hits"');
          const l1Misses = await counter(api.url, "catalog_l1_events_total", 'event="misses"');
          return { reads: hits + misses, misses, l1Hits, l1Misses };
        },
      });
    }
    if (values["with-pipeline"]) await pipeline.startConsumer(namespace, "rebuild");
    systems.push({
      name: col.label,
      env,
      instances,
      hotIds: hotIdsOf(systems.length),
      async entries(ids) {
        const raws = await Promise.all(ids.map((id) => pipeline.redis.get(pipeline.key(namespace, id))));
        return raws.map((raw) => {
          const e = decodeEntry(raw);
          return e ? { version: e.version, servable: e.kind !== "m" } : null;
        });
      },
    });
  }
  if (values["with-pipeline"]) await pipeline.startRelay();

  // The peers: their own processes, each with a Redis key prefix of its own.
  for (const kind of peerKinds) {
    const prefix = `${pipeline.prefix}_${kind.replace("-", "_")}`;
    const env = { DATABASE_URL: pipeline.databaseUrl, REDIS_URL: stack.redisServer.url, PEER_PREFIX: prefix, PORT: "0" };
    const instances: Instance[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const proc = spawn([BUN, `bench/peers/${kind}.ts`], env);
      peerProcs.push(proc);
      await waitFor(() => /"msg":"peer listening"/.test(proc.output()) || proc.exitCode !== null, 30_000, `the ${kind} peer`);
      if (proc.exitCode !== null) throw new Error(`the ${kind} peer exited ${proc.exitCode}:\n${proc.output()}`);
      const url = /"url":"(http:[^"]+)"/.exec(proc.output())![1]!;
      instances.push({ url, pid: proc.pid, proc, stats: async () => (await (await fetch(`${url}/_stats`)).json()) as Stats });
    }
    systems.push({
      name: kind,
      env: {},
      instances,
      hotIds: hotIdsOf(systems.length),
      async entries(ids) {
        // BentoCache keys are "<prefix>:<id>", Keyv's "<prefix>::<id>"; both hold JSON around the product's JSON.
        const keys = new Map<string, string>();
        let cursor = "0";
        do {
          const [next, batch] = await (pipeline.redis as Redis).scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          for (const k of batch) keys.set(k.slice(k.lastIndexOf(":") + 1), k);
          cursor = next;
        } while (cursor !== "0");
        return Promise.all(
          ids.map(async (id) => {
            const key = keys.get(id);
            const raw = key ? await pipeline.redis.get(key) : null;
            const m = raw ? /\\?"version\\?":(\d+)/.exec(raw) : null;
            return m ? { version: Number(m[1]), servable: true } : null;
          }),
        );
      },
    });
  }

  // Warm every system's first instance: each of the 1,000 products read twice (Redis, then L1).
  const paths = Array.from({ length: HIT_PRODUCTS }, (_, i) => `/products/${seededId(i + 1)}`);
  for (const s of systems) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < paths.length; i += 100) {
        await Promise.all(
          paths.slice(i, i + 100).map(async (p) => {
            const r = await fetch(s.instances[0]!.url + p);
            await r.arrayBuffer();
            if (r.status !== 200) throw new Error(`${s.name}: warm-up read ${p} answered ${r.status}`);
          }),
        );
      }
    }
  }

  // (a) hits against /healthz of the same process.
  const hitsScript = randomPathsScript(paths);
  for (const s of systems) {
    await wrk(`${s.instances[0]!.url}/healthz`, { ...opts, seconds: 2 }); // warm-up of the route and wrk
    await wrk(s.instances[0]!.url, { ...opts, seconds: 2, script: hitsScript });
  }
  const hitRounds: { round: number; system: string; healthz: WrkResult; hits: WrkResult; ratio: number; misses: number; l1Hits: number | null }[] = [];
  for (let round = 1; round <= (values["skip-hits"] ? 0 : Number(values.rounds)); round++) {
    const order = systems.map((_, i) => systems[(i + round - 1) % systems.length]!);
    for (const s of order) {
      const first = s.instances[0]!;
      const healthz = await wrk(`${first.url}/healthz`, opts);
      const before = await first.stats();
      const hits = await wrk(first.url, { ...opts, script: hitsScript });
      const after = await first.stats();
      if (healthz.non2xx || hits.non2xx) throw new Error(`${s.name}: ${healthz.non2xx + hits.non2xx} answers were not 2xx`);
      const ratio = hits.requestsPerSecond / healthz.requestsPerSecond;
      const l1Hits = after.l1Hits === undefined ? null : after.l1Hits - before.l1Hits!;
      hitRounds.push({ round, system: s.name, healthz, hits, ratio, misses: after.misses - before.misses, l1Hits });
      console.log(
        `round ${round}, ${s.name}: healthz ${Math.round(healthz.requestsPerSecond)} req/s, hits ${Math.round(hits.requestsPerSecond)} req/s, ratio ${ratio.toFixed(2)}, misses ${after.misses - before.misses}${l1Hits === null ? "" : `, from L1 ${l1Hits} of ${hits.requests}`}`,
      );
    }
  }

  // (b) the stale-fill race, then (c) the caches against the database after a quiet period.
  async function race(s: System) {
    const ids = s.hotIds;
    for (const inst of s.instances) for (const id of ids) await (await fetch(`${inst.url}/products/${id}`)).arrayBuffer();
    const statsBefore = await Promise.all(s.instances.map((i) => i.stats()));
    let running = true;
    const t0 = performance.now();
    let writes = 0;
    let writeErrors = 0;
    let reads = 0;
    let readErrors = 0;
    let regressions = 0;
    let worst = 0; // the largest step back, in versions
    const readersRegressed = new Set<number>();
    const samples: { reader: number; instance: number; id: string; seen: number; got: number; cacheStatus: string | null; atMs: number }[] = [];
    const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
    const writers = Array.from({ length: Number(values.writers) }, async (_, w) => {
      for (let n = 0; running; n++) {
        const inst = s.instances[(w + n) % s.instances.length]!;
        try {
          const res = await fetch(`${inst.url}/products/${pick()}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ priceCents: 1000 + n * 8 + w }) });
          await res.arrayBuffer();
          if (res.status === 200) writes++;
          else writeErrors++;
        } catch {
          writeErrors++; // the connection failed: a process died (checked after the race)
          await Bun.sleep(20);
        }
      }
    });
    const readers = Array.from({ length: Number(values.readers) }, async (_, r) => {
      const seen = new Map<string, number>();
      for (let n = 0; running; n++) {
        const inst = s.instances[(r + n) % s.instances.length]!;
        const id = pick();
        let res: Response;
        let text: string;
        try {
          res = await fetch(`${inst.url}/products/${id}`);
          text = await res.text();
        } catch {
          readErrors++;
          await Bun.sleep(20);
          continue;
        }
        if (res.status !== 200) {
          readErrors++;
          continue;
        }
        reads++;
        const version = (JSON.parse(text) as { version: number }).version;
        const max = seen.get(id) ?? 0;
        if (version < max) {
          regressions++;
          if (samples.length < 20) samples.push({ reader: r, instance: (r + n) % s.instances.length, id, seen: max, got: version, cacheStatus: res.headers.get("cache-status") ?? res.headers.get("x-cache"), atMs: Math.round(performance.now() - t0) });
          readersRegressed.add(r);
          worst = Math.max(worst, max - version);
        } else seen.set(id, version);
      }
    });
    await Bun.sleep(Number(values["race-seconds"]) * 1000);
    running = false;
    await Promise.all([...writers, ...readers]);
    const raceSeconds = (performance.now() - t0) / 1000;
    const dead = s.instances.filter((i) => i.proc.exitCode !== null);
    if (dead.length) throw new Error(`${s.name}: ${dead.length} process(es) died during the race:\n${dead.map((i) => i.proc.output().slice(-3000)).join("\n---\n")}`);
    const statsAfter = await Promise.all(s.instances.map((i) => i.stats()));
    const serverMisses = statsAfter.reduce((sum, a, i) => sum + a.misses - statsBefore[i]!.misses, 0);
    const l1Hits = statsAfter[0]!.l1Hits === undefined ? null : statsAfter.reduce((sum, a, i) => sum + a.l1Hits! - statsBefore[i]!.l1Hits!, 0);

    await Bun.sleep(Number(values["quiet-ms"]));
    const { rows } = await pipeline.db.query<{ id: string; version: number }>("SELECT id, version FROM product_snapshots WHERE id = ANY($1)", [ids]);
    const truth = new Map(rows.map((r) => [r.id, r.version]));
    const entries = await s.entries(ids);
    const entriesOlder = entries.filter((e, i) => e && e.servable && e.version < truth.get(ids[i]!)!).length;
    const markersOlder = entries.filter((e, i) => e && !e.servable && e.version < truth.get(ids[i]!)!).length;
    const missingEntries = entries.filter((e) => e === null).length;
    let answersOlder = 0;
    const answersDetail: string[] = [];
    for (const [n, inst] of s.instances.entries()) {
      for (const id of ids) {
        const res = await fetch(`${inst.url}/products/${id}`);
        const v = (JSON.parse(await res.text()) as { version: number }).version;
        if (v < truth.get(id)!) {
          answersOlder++;
          answersDetail.push(`instance ${n + 1} ${id}: ${v} < ${truth.get(id)}`);
        }
      }
    }
    const race = {
      system: s.name,
      seconds: Number(raceSeconds.toFixed(1)),
      writes,
      writeErrors,
      reads,
      readErrors,
      serverMisses,
      l1Hits,
      regressions,
      samples,
      readersRegressed: readersRegressed.size,
      worstStepBack: worst,
      entriesOlder,
      markersOlder,
      missingEntries,
      answersOlder,
      answersDetail,
      entriesDetail: entries.map((e, i) => `${ids[i]}: cache ${e ? `${e.version}${e.servable ? "" : " (marker)"}` : "none"}, database ${truth.get(ids[i]!)}`),
    };
    console.log(
      `race, ${s.name}: ${writes} writes (${writeErrors} failed), ${reads} reads (${serverMisses} misses${l1Hits === null ? "" : `, ${l1Hits} from L1`}), ${regressions} reads older than seen, after ${values["quiet-ms"]} ms quiet: ${entriesOlder} Redis entries and ${answersOlder} answers older than the database`,
    );
    return race;
  }
  const races: Awaited<ReturnType<typeof race>>[] = [];
  for (const s of systems) races.push(await race(s));

  const summary = systems.map((s) => {
    const rs = hitRounds.filter((r) => r.system === s.name);
    const race = races.find((r) => r.system === s.name)!;
    const hits = rs.length
      ? {
          healthzRps: Math.round(median(rs.map((r) => r.healthz.requestsPerSecond))),
          hitsRps: Math.round(median(rs.map((r) => r.hits.requestsPerSecond))),
          ratio: Number(median(rs.map((r) => r.ratio)).toFixed(2)),
          ratioRange: [Math.min(...rs.map((r) => r.ratio)), Math.max(...rs.map((r) => r.ratio))].map((x) => Number(x.toFixed(2))),
          hitsP50ms: median(rs.map((r) => r.hits.p50)),
          hitsP99ms: median(rs.map((r) => r.hits.p99)),
          missesDuringHits: rs.reduce((sum, r) => sum + r.misses, 0),
          // Of the hit runs' requests, the share its near cache answered (catalog-cache only).
          l1ShareOfHits: rs[0]!.l1Hits === null ? null : Number((rs.reduce((sum, r) => sum + r.l1Hits!, 0) / rs.reduce((sum, r) => sum + r.hits.requests, 0)).toFixed(3)),
        }
      : null;
    return { system: s.name, env: s.env, hits, race };
  });
  const options = { ...values, apiEnv, catalogColumns, hitProducts: HIT_PRODUCTS };
  console.log(
    `\npeers in one run: ${INSTANCES} processes per system; hits: wrk ${opts.connections} connections, ${opts.seconds} s × ${values.rounds} rounds on the first process, medians; race: ${values.writers} writers and ${values.readers} readers on ${HOT} hot products for ${values["race-seconds"]} s through every process round robin, then ${values["quiet-ms"]} ms quiet (every TTL 1 h); ${new Date().toISOString()}, ${machine()}; load average at the start ${loadAtStart}; api at ${revision.head}${revision.uncommittedInSrc ? ` with ${revision.uncommittedInSrc} uncommitted file(s) in src/` : ""}`,
  );
  console.table(
    summary.map((s) => ({
      system: s.system,
      "healthz req/s": s.hits?.healthzRps ?? "-",
      "hits req/s": s.hits?.hitsRps ?? "-",
      "hits/healthz": s.hits ? `${s.hits.ratio.toFixed(2)} (${s.hits.ratioRange[0]}-${s.hits.ratioRange[1]})` : "-",
      "hits p99 ms": s.hits?.hitsP99ms ?? "-",
      "from L1": s.hits?.l1ShareOfHits == null ? "-" : `${(s.hits.l1ShareOfHits * 100).toFixed(1)} %`,
      "race reads (misses)": `${s.race.reads} (${s.race.serverMisses})`,
      "race writes": s.race.writes,
      "reads older than seen": s.race.regressions,
      "worst step back": s.race.worstStepBack,
      "Redis entries older than DB": `${s.race.entriesOlder} of ${HOT}`,
      "answers older than DB": `${s.race.answersOlder} of ${HOT * INSTANCES}`,
    })),
  );
  for (const s of summary) if (Object.keys(s.env).length) console.log(`${s.system}: env ${JSON.stringify(s.env)}`);
  console.log(`command: bun bench/peers.ts ${process.argv.slice(2).join(" ")}; ${Math.round((performance.now() - startedAt) / 1000)} s in all`);
  console.log(`wrote ${writeResult("peers", { options, revision, loadAtStart, hitRounds, summary })}`);
} finally {
  for (const p of peerProcs) p.kill("SIGKILL");
  await Promise.all(peerProcs.map((p) => p.exited));
  await stack.close();
}
process.exit(0);
