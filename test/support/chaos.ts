// The chaos run: a mixed workload over the real processes while faults are injected one after
// another, each followed by only what a process supervisor would do (start a killed process
// again). The consistency checker watches every write throughout. See test/e2e/chaos.test.ts
// (reduced, in CI) and scripts/chaos.ts (full).
import { readdirSync } from "node:fs";
import { formatReport, startConsistencyChecker, type CheckerReport } from "../../scripts/lib/consistency-checker.ts";
import { ROOT, type Proc } from "./processes.ts";
import Redis from "ioredis";
import { createPipeline, dumpTopic, http, type Pipeline } from "./pipeline.ts";
import { deleteKeys, waitFor } from "./services.ts";
import { startSpareRedis } from "./spare-redis.ts";

const CHAOS_TOKEN = "chaos-admin-token-0123456789";

export const FAULTS = [
  "kill-relay",
  "kill-consumer",
  "kill-api",
  "restart-kafka",
  "restart-redis",
  "restart-postgres",
  // compound: the interleavings that broke the fence before (issue 8)
  "flush-redis-with-backlog",
  "restart-kafka-then-redis",
  "replays-on-hot-product",
  "redis-timeout-then-expiry",
  "kill-relay-session",
] as const;
export type Fault = (typeof FAULTS)[number];

export type ChaosResult = {
  cycles: { fault: Fault; healedMs: number }[];
  writes: { ok: number; unavailable: number; refused: number; serverErrors: string[] };
  reads: { ok: number; unavailable: number; serverErrors: string[] };
  checker: CheckerReport;
  /** Committed events the relay marked sent that are not on the topic: lost. */
  lostEvents: string[];
  /** Outbox rows still unsent a minute after the workload stopped: the relay stalled. */
  unsentRows: number;
  replays: { started: number; completed: number; failed: string[] };
  crashedProcesses: string[];
  /** Committed events the checker did not learn of (it must learn of every one). */
  unobserved: number;
};

async function sh(cmd: string[]) {
  const p = Bun.spawn(cmd, { cwd: ROOT, stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err}`);
}

const pgVersion = () => readdirSync("/etc/postgresql")[0]!;

export async function runChaos(options: { cycles: number; secondsBetween?: number; log?: (line: string) => void; products?: number; faults?: readonly Fault[] }): Promise<ChaosResult> {
  const order = options.faults ?? FAULTS;
  const log = options.log ?? (() => {});
  const between = (options.secondsBetween ?? 1.5) * 1000;
  // Redis of its own, so "restart and flush" touches nothing else (no persistence: a restart empties it).
  const redisServer = await startSpareRedis({ persistent: false });
  const p: Pipeline = await createPipeline("chaos", { redisUrl: redisServer.url });
  const result: ChaosResult = {
    cycles: [],
    writes: { ok: 0, unavailable: 0, refused: 0, serverErrors: [] },
    reads: { ok: 0, unavailable: 0, serverErrors: [] },
    checker: { writes: 0, namespaces: [], ok: false },
    lostEvents: [],
    unsentRows: 0,
    replays: { started: 0, completed: 0, failed: [] },
    crashedProcesses: [],
    unobserved: 0,
  };
  const { rows: startRows } = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM events");
  const eventsBefore = startRows[0]!.n;
  const procs: Record<string, Proc & { url?: string }> = {};
  const apis = () => [procs.api1!, procs.api2!].filter((a) => a && a.exitCode === null);
  // The checker reads every key, and through every api: catalog through the two writers, storefront
  // through a third api that reads that namespace (its fills race the evict consumer's markers).
  const checker = await startConsistencyChecker({
    databaseUrl: p.databaseUrl,
    redisUrl: redisServer.url,
    keyPrefix: p.prefix,
    namespaces: ["catalog", "storefront"],
    http: [
      { namespace: "catalog", urls: () => apis().map((a) => a.url!) },
      { namespace: "storefront", urls: () => (procs.reader && procs.reader.exitCode === null ? [procs.reader.url!] : []) },
    ],
  });
  try {
    const apiEnv = { CACHE_WRITE_THROUGH: "true", CACHE_LEASE_WAIT_MS: "50", ADMIN_TOKEN: CHAOS_TOKEN };
    const start = {
      api: async (n: number) => (procs[`api${n}`] = await p.startApi(apiEnv)),
      reader: async () => (procs.reader = await p.startApi({ ...apiEnv, CACHE_NAMESPACE: "storefront" })),
      relay: async () => (procs.relay = await p.startRelay({ RELAY_POLL_MS: "200" })),
      catalog: async () => (procs.catalog = await p.startConsumer("catalog", "rebuild")),
      storefront: async () => (procs.storefront = await p.startConsumer("storefront", "evict")),
    };
    await Promise.all([start.api(1), start.api(2), start.reader(), start.relay(), start.catalog(), start.storefront()]);

    const ids = Array.from({ length: options.products ?? 40 }, (_, i) => `${p.prefix}-c${i}`);
    for (const id of ids) await http(procs.api1!.url!, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" });

    // The workload: writers and readers over both api instances. A refused connection (its api is
    // being restarted) or a 503 (PostgreSQL is restarting) is expected; any other 5xx is a bug.
    let running = true;
    let n = 0;
    let hot: string | null = null; // while set, half of the writes go to this one product
    const classify = (status: number, what: string, kind: "writes" | "reads") => {
      if (status === 503) result[kind].unavailable++;
      else if (status >= 500) result[kind].serverErrors.push(`${what} → ${status}`);
      else if (status >= 400 && kind === "writes") result.writes.refused++;
      else result[kind].ok++;
    };
    const worker = async (kind: "writes" | "reads") => {
      while (running) {
        const live = apis();
        const api = kind === "reads" && n % 3 === 0 && procs.reader?.exitCode === null ? procs.reader : live[n % Math.max(live.length, 1)];
        n++;
        const id = hot && Math.random() < 0.5 ? hot : ids[1 + Math.floor(Math.random() * (ids.length - 1))]!; // ids[0] is the heal probe's
        if (!api) {
          await Bun.sleep(20);
          continue;
        }
        try {
          if (kind === "reads") {
            const r = await fetch(`${api.url}/products/${id}`);
            await r.arrayBuffer();
            classify(r.status, `GET ${id}`, kind);
          } else {
            const r = Math.random() < 0.05
              ? await http(api.url!, "DELETE", `/products/${id}`).then(async (d) => (d.status === 404 ? http(api.url!, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" }) : d))
              : await http(api.url!, "PATCH", `/products/${id}`, { priceCents: ++n });
            classify(r.status, `write ${id}`, kind);
          }
        } catch {
          await Bun.sleep(20); // the api went away mid-request; the writer moves on
        }
        await Bun.sleep(kind === "writes" ? 10 : 5);
      }
    };
    const workers = [worker("writes"), worker("writes"), worker("reads")];
    const admin = (path: string, body?: unknown) => http(apis()[0]!.url!, body === undefined ? "GET" : "POST", path, body, { authorization: `Bearer ${CHAOS_TOKEN}` });

    const kafka = (cmd: string) => sh(["bash", "scripts/kafka.sh", cmd]);
    const kill = async (name: string) => {
      procs[name]!.kill("SIGKILL");
      await procs[name]!.exited;
    };
    const faults: Record<Fault, () => Promise<void>> = {
      "kill-relay": async () => {
        await kill("relay");
        await Bun.sleep(200);
        await start.relay();
      },
      "kill-consumer": async () => {
        const which = Math.random() < 0.5 ? "catalog" : "storefront";
        await kill(which);
        await Bun.sleep(200);
        await start[which]();
      },
      "kill-api": async () => {
        const which = Math.random() < 0.5 ? 1 : 2;
        await kill(`api${which}`);
        await Bun.sleep(200);
        await start.api(which);
      },
      "restart-kafka": async () => {
        await kafka("stop");
        await Bun.sleep(300);
        await kafka("start");
      },
      "restart-redis": async () => {
        await redisServer.stop();
        await Bun.sleep(300);
        await redisServer.start(); // empty: the restart flushed it
      },
      "restart-postgres": async () => {
        await sh(["pg_ctlcluster", "--skip-systemctl-redirect", pgVersion(), "main", "restart", "-m", "fast"]);
      },
      // A consumer is down while writes go on (a backlog), Redis loses everything, the consumer
      // comes back and replays its backlog into the empty keys.
      "flush-redis-with-backlog": async () => {
        await kill("catalog");
        await Bun.sleep(1500);
        await p.redis.flushall();
        await start.catalog();
      },
      "restart-kafka-then-redis": async () => {
        await faults["restart-kafka"]();
        await faults["restart-redis"]();
      },
      // Id-scoped replays one after another, and a full one, while writers hammer one product.
      "replays-on-hot-product": async () => {
        hot = ids[1 + Math.floor(Math.random() * (ids.length - 1))]!;
        const jobs: string[] = [];
        const full = await admin("/admin/replay", {}).catch(() => null);
        if (full?.status === 202) jobs.push(full.body.jobId);
        for (let i = 0; i < 8; i++) {
          const r = await admin("/admin/replay", { productIds: [hot] }).catch(() => null);
          if (r?.status === 202) jobs.push(r.body.jobId);
          await Bun.sleep(100);
        }
        result.replays.started += jobs.length;
        for (const jobId of jobs) {
          const job = await waitFor(async () => {
            const r = await admin(`/admin/replay/${jobId}`).catch(() => null);
            return r?.status === 200 && r.body.status !== "running" ? r.body : null;
          }, 60_000, `replay ${jobId}`);
          if (job.status === "completed") result.replays.completed++;
          else result.replays.failed.push(`${jobId}: ${job.status} ${job.failure ?? ""}`);
        }
        hot = null;
      },
      // Redis stops answering for longer than the api's command timeout (write-throughs time out
      // and run late), then the keys expire.
      "redis-timeout-then-expiry": async () => {
        const blocker = new Redis(redisServer.url);
        await blocker.call("DEBUG", "SLEEP", "0.8").catch(() => {});
        blocker.disconnect();
        await deleteKeys(p.redis, `${p.prefix}:catalog:product`);
        await deleteKeys(p.redis, `${p.prefix}:storefront:product`);
      },
      // The relay's PostgreSQL session is terminated while it leads (the process lives on).
      "kill-relay-session": async () => {
        const { rows } = await p.db.query<{ n: number }>(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'catalog-relay' AND datname = current_database()",
        );
        if (rows[0]!.n === 0) throw new Error("no relay session to terminate");
      },
    };

    await Bun.sleep(between);
    for (let i = 0; i < options.cycles; i++) {
      const fault = order[i % order.length]!;
      const t0 = performance.now();
      checker.note(fault);
      await faults[fault]();
      // Healed: a write and a read through every api succeed again.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const probes = await Promise.all(
          apis().map(async (a) => {
            const w = await http(a.url!, "PATCH", `/products/${ids[0]}`, { priceCents: 7 }).catch(() => ({ status: 0 }));
            const r = await fetch(`${a.url}/products/${ids[0]}`).then((x) => x.status, () => 0);
            return w.status === 200 && r === 200;
          }),
        );
        if (probes.length === 2 && probes.every(Boolean)) break;
        if (Date.now() > deadline) throw new Error(`not healed 60 s after ${fault}`);
        await Bun.sleep(100);
      }
      const healedMs = Math.round(performance.now() - t0);
      result.cycles.push({ fault, healedMs });
      log(`cycle ${i + 1}/${options.cycles}: ${fault} healed in ${healedMs} ms`);
      await Bun.sleep(between);
    }

    running = false;
    await Promise.all(workers);
    log("workload stopped; draining");
    result.checker = await checker.drain(60_000);
    log(formatReport(result.checker));

    // Nothing lost: every committed event of the run is on the topic. First the relay must have sent
    // every row (else it stalled: reported apart); then a sent row missing from the topic is lost.
    const unsent = async () => (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL")).rows[0]!.n;
    await waitFor(async () => (await unsent()) === 0, 60_000, "the relay to send every outbox row").catch(() => {});
    result.unsentRows = await unsent();
    if (result.unsentRows) log(`relay stalled: ${result.unsentRows} outbox rows unsent a minute after the workload stopped`);
    const { rows } = await p.db.query<{ product_id: string; version: number }>(
      "SELECT e.product_id, e.version FROM events e JOIN outbox o ON o.event_id = e.event_id WHERE e.product_id = ANY($1) AND o.sent_at IS NOT NULL",
      [ids],
    );
    const { rows: all } = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM events");
    result.unobserved = all[0]!.n - eventsBefore - result.checker.writes;
    log(`comparing ${rows.length} events with the topic; the checker saw ${result.checker.writes} of the ${all[0]!.n - eventsBefore} committed during the run`);
    const onTopic = new Set((await dumpTopic(p.topic)).map((m) => `${m.key}|${m.headers["x-product-version"]}`));
    result.lostEvents = rows.map((r) => `${r.product_id}|${r.version}`).filter((k) => !onTopic.has(k));
    for (const stale of result.checker.namespaces.flatMap((n) => n.stale)) {
      const [ns, id] = stale.split(" ")[0]!.split("|") as [string, string];
      const versions = rows.filter((r) => r.product_id === id).map((r) => r.version).sort((a, b) => a - b);
      log(`stale ${stale}: cache ${await p.redis.get(p.key(ns, id))}; events ${versions.join(",")}; on topic ${[...onTopic].filter((k) => k.startsWith(`${id}|`)).join(",")}`);
    }
    // Healed without a human: no process the run did not kill died by itself.
    result.crashedProcesses = Object.entries(procs).filter(([, proc]) => proc.exitCode !== null).map(([name, proc]) => `${name} exited ${proc.exitCode}`);
    return result;
  } finally {
    log("cleaning up");
    await checker.stop();
    log("checker stopped");
    await p.close();
    log("pipeline closed");
    await redisServer.dispose();
  }
}
