// The chaos run: a mixed workload over the real processes while faults are injected one after
// another, each followed by only what a process supervisor would do (start a killed process
// again). The consistency checker watches every write throughout. See test/e2e/chaos.test.ts
// (reduced, in CI) and scripts/chaos.ts (full).
//
// Two topologies. The single one: one Kafka broker (scripts/kafka.sh), one Redis server of the
// run's own, two apis, one relay, one consumer per group. The cluster one (`cluster: true`): a
// three-node Kafka cluster and a Redis Cluster of three masters and three replicas, both started by
// the run on ports of their own and stopped at its end, two apis, a relay and a standby relay, two
// consumers per group; its faults are CLUSTER_FAULTS.
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { formatReport, startConsistencyChecker, type CheckerReport } from "../../scripts/lib/consistency-checker.ts";
import { ROOT, type Proc } from "./processes.ts";
import Redis from "ioredis";
import { createPipeline, http, type Pipeline } from "./pipeline.ts";
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
  "change-feed-outage",
] as const;

/**
 * The faults of the cluster topology. Not here, because they do not apply to it:
 * - restart-kafka: stopping the one broker is a whole-Kafka outage; on the cluster the fault is
 *   one node's death (kill-kafka-leader). A whole-cluster outage is what the single topology's
 *   restart-kafka already covers.
 * - restart-redis: restarting the one (non-persistent) server flushes it; on the cluster the fault
 *   is one master's death and its replica's promotion (kill-redis-master), and the flush is
 *   flush-redis-with-backlog, which there flushes every master.
 * - restart-kafka-then-redis: replaced by kill-kafka-leader-then-redis-master for the same reasons.
 */
export const CLUSTER_FAULTS = [
  "kill-relay",
  "kill-consumer",
  "kill-api",
  "kill-kafka-leader",
  "kill-redis-master",
  "restart-postgres",
  "flush-redis-with-backlog",
  "kill-kafka-leader-then-redis-master",
  "replays-on-hot-product",
  "redis-timeout-then-expiry",
  "kill-relay-session",
  "change-feed-outage",
] as const;
export type Fault = (typeof FAULTS)[number] | (typeof CLUSTER_FAULTS)[number];

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

async function sh(cmd: string[], env?: Record<string, string>): Promise<string> {
  const p = Bun.spawn(cmd, { cwd: ROOT, env: env && { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err || out}`);
  return out.trim();
}

const pgVersion = () => readdirSync("/etc/postgresql")[0]!;

/**
 * The cluster topology's Kafka (three nodes on 19092-19097, beside the single broker on 9092) and
 * Redis Cluster (three masters and three replicas on 7100-7105, cluster bus on 17100-17105, beside
 * the tests' cluster on 7000-7005, which other test files use meanwhile: this run kills and
 * flushes its masters). Each in a directory of its own under .run/, reset first (a run that died
 * may have left one), and stopped and removed by stop().
 */
async function startClusters(log: (line: string) => void) {
  const kafkaEnv = { KAFKA_CLUSTER_BASE_PORT: "19092", KAFKA_CLUSTER_DIR: resolve(ROOT, ".run/chaos-kafka-cluster") };
  const redisEnv = { REDIS_CLUSTER_BASE_PORT: "7100", REDIS_CLUSTER_DIR: resolve(ROOT, ".run/chaos-redis-cluster") };
  const kafka = (...args: string[]) => sh(["bash", "scripts/kafka-cluster.sh", ...args], kafkaEnv);
  const redis = (...args: string[]) => sh(["bash", "scripts/redis-cluster.sh", ...args], redisEnv);
  const stop = async () => {
    await Promise.all([kafka("reset").catch((e) => log(`stopping the kafka cluster: ${e}`)), redis("reset").catch((e) => log(`stopping the redis cluster: ${e}`))]);
  };
  await stop();
  try {
    await Promise.all([kafka("start"), redis("start")]);
    const [brokers, nodes] = await Promise.all([kafka("brokers"), redis("nodes")]);
    log(`kafka cluster on ${brokers}; redis cluster on ${nodes}`);
    return { kafka, redis, brokers, redisNodes: nodes.split(","), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function runChaos(options: {
  cycles: number;
  secondsBetween?: number;
  log?: (line: string) => void;
  products?: number;
  faults?: readonly Fault[];
  /** The cluster topology (see the top of this file); its faults are CLUSTER_FAULTS. */
  cluster?: boolean;
  /**
   * Which apis run the near cache (L1, with its read barrier): "first" (the default: api1 and the
   * storefront-namespace reader, so the checker alternates between an api with L1 and one
   * without), "all", or "none".
   */
  l1?: "first" | "all" | "none";
}): Promise<ChaosResult> {
  const topology: readonly Fault[] = options.cluster ? CLUSTER_FAULTS : FAULTS;
  const order = options.faults ?? topology;
  const foreign = order.filter((f) => !topology.includes(f));
  if (foreign.length) throw new Error(`not a fault of the ${options.cluster ? "cluster" : "single"} topology: ${foreign.join(", ")} (see FAULTS and CLUSTER_FAULTS)`);
  const log = options.log ?? (() => {});
  const between = (options.secondsBetween ?? 1.5) * 1000;
  const clusters = options.cluster ? await startClusters(log) : null;
  // Single topology: a Redis of its own, so "restart and flush" touches nothing else (no
  // persistence: a restart empties it).
  const redisServer = clusters ? null : await startSpareRedis({ persistent: false });
  try {
    const p: Pipeline = await createPipeline(
      "chaos",
      clusters ? { redisClusterNodes: clusters.redisNodes, brokers: clusters.brokers, replicas: 3 } : { redisUrl: redisServer!.url },
    );
    try {
      return await chaos(p, clusters, redisServer, order, options, log, between);
    } finally {
      await p.close();
      log("pipeline closed");
    }
  } finally {
    await redisServer?.dispose();
    await clusters?.stop();
  }
}

async function chaos(
  p: Pipeline,
  clusters: Awaited<ReturnType<typeof startClusters>> | null,
  redisServer: Awaited<ReturnType<typeof startSpareRedis>> | null,
  order: readonly Fault[],
  options: { cycles: number; products?: number; l1?: "first" | "all" | "none" },
  log: (line: string) => void,
  between: number,
): Promise<ChaosResult> {
  const l1 = options.l1 ?? "first";
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
    redisUrl: redisServer?.url ?? "",
    redisClusterNodes: clusters?.redisNodes ?? null,
    keyPrefix: p.prefix,
    namespaces: ["catalog", "storefront"],
    http: [
      { namespace: "catalog", urls: () => apis().map((a) => a.url!) },
      { namespace: "storefront", urls: () => (procs.reader && procs.reader.exitCode === null ? [procs.reader.url!] : []) },
    ],
  });
  try {
    // Two apis in both topologies; on the cluster also a standby relay (it leads when the leader's
    // session ends) and two consumers per group, each with its own static member id.
    const relays = clusters ? [1, 2] : [1];
    const members = clusters ? [1, 2] : [1];
    const groups = { catalog: "rebuild", storefront: "evict" } as const;
    type Group = keyof typeof groups;
    const apiEnv = { CACHE_WRITE_THROUGH: "true", CACHE_LEASE_WAIT_MS: "50", ADMIN_TOKEN: CHAOS_TOKEN, L1_HEARTBEAT_MS: "200" };
    const start = {
      api: async (n: number) => (procs[`api${n}`] = await p.startApi({ ...apiEnv, L1_ENABLED: String(l1 === "all" || (l1 === "first" && n === 1)) })),
      reader: async () => (procs.reader = await p.startApi({ ...apiEnv, CACHE_NAMESPACE: "storefront", L1_ENABLED: String(l1 !== "none") })),
      relay: async (n: number) => (procs[`relay${n}`] = await p.startRelay({ RELAY_POLL_MS: "200" })),
      consumer: async (group: Group, n: number) =>
        (procs[`${group}${n}`] = await p.startConsumer(group, groups[group], { CONSUMER_INSTANCE_ID: `${group}-${n}` })),
    };
    await Promise.all([
      start.api(1),
      start.api(2),
      start.reader(),
      ...relays.map((n) => start.relay(n)),
      ...members.flatMap((n) => [start.consumer("catalog", n), start.consumer("storefront", n)]),
    ]);
    log(`running: ${Object.keys(procs).join(", ")}`);

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
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    /** The clusters of the cluster topology (its faults run only there: see the check in runChaos). */
    const cl = () => clusters!;
    const lines = (out: string) => out.split("\n").filter(Boolean);
    // What the cycle disturbed on the cluster, to wait for before the next fault (see settle below).
    let kafkaNodeRestarted = false;
    const onEveryMaster = async (what: (node: Redis) => Promise<unknown>) => {
      const ports = lines(await cl().redis("masters")).map(Number);
      if (ports.length !== 3) throw new Error(`expected three redis masters, found ${ports.join(", ")}`);
      await Promise.all(
        ports.map(async (port) => {
          const node = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0 });
          node.on("error", () => {});
          try {
            await what(node);
          } finally {
            node.disconnect();
          }
        }),
      );
    };
    // The relay that holds the outbox lock, from the last leadership line it logged.
    const leadingRelay = () =>
      relays.find((r) => {
        const out = procs[`relay${r}`]!.output();
        return out.lastIndexOf('"msg":"relay is the leader"') > out.lastIndexOf('"msg":"relay is a standby"');
      }) ?? relays[0]!;

    const faults: Record<Fault, () => Promise<void>> = {
      // On the cluster, the leader is killed (the standby takes over) and comes back as a standby.
      "kill-relay": async () => {
        const which = leadingRelay();
        await kill(`relay${which}`);
        await Bun.sleep(200);
        await start.relay(which);
      },
      // On the cluster, one of the two members of a group: its partitions wait for it (static
      // membership) or move to the other once its session times out.
      "kill-consumer": async () => {
        const group = pick(["catalog", "storefront"] as const);
        const member = pick(members);
        await kill(`${group}${member}`);
        await Bun.sleep(200);
        await start.consumer(group, member);
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
        await redisServer!.stop();
        await Bun.sleep(300);
        await redisServer!.start(); // empty: the restart flushed it
      },
      "restart-postgres": async () => {
        await sh(["pg_ctlcluster", "--skip-systemctl-redirect", pgVersion(), "main", "restart", "-m", "fast"]);
      },
      // The node leading the most partitions of the event topic dies (kill -9); the others take
      // over its partitions (after broker.session.timeout.ms), then it starts again and catches up.
      "kill-kafka-leader": async () => {
        const leaders = async () => lines(await cl().kafka("leaders", p.topic)).map((l) => l.split(" ")[1]!);
        const counts = new Map<string, number>();
        for (const l of await leaders()) counts.set(l, (counts.get(l) ?? 0) + 1);
        const [victim, led] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
        if (!/^[123]$/.test(victim)) throw new Error(`no kafka node leads the topic's partitions: ${[...counts].join("; ")}`);
        await cl().kafka("kill", victim);
        log(`  kafka node ${victim} (leader of ${led} of 6 partitions) killed`);
        await waitFor(async () => !(await leaders().catch(() => [victim])).includes(victim), 60_000, `the partitions led by kafka node ${victim} to move`);
        await cl().kafka("start-node", victim);
        kafkaNodeRestarted = true;
      },
      // A master dies (kill -9) and its replica takes over; the master starts again, empty (no
      // persistence), and rejoins as the replica of the promoted one.
      "kill-redis-master": async () => {
        const masters = async () => lines(await cl().redis("masters"));
        const victim = pick(await masters());
        await cl().redis("kill", victim);
        const t0 = performance.now();
        await waitFor(async () => {
          const now = await masters().catch((): string[] => []);
          return now.length === 3 && !now.includes(victim);
        }, 60_000, `a replica of redis :${victim} to take over`);
        log(`  redis master :${victim} killed; its replica took over in ${Math.round(performance.now() - t0)} ms`);
        await cl().redis("start-node", victim);
      },
      // A consumer group is down while writes go on (a backlog), Redis loses everything (on the
      // cluster, every master: this run's own cluster, so nothing else is in it), the consumers
      // come back and replay their backlog into the empty keys.
      "flush-redis-with-backlog": async () => {
        await Promise.all(members.map((m) => kill(`catalog${m}`)));
        await Bun.sleep(1500);
        let keys = 0;
        const flush = async (node: Redis) => {
          const n = await node.dbsize(); // before the sum: the masters answer concurrently
          keys += n;
          await node.flushall();
        };
        if (clusters) await onEveryMaster(flush);
        else await flush(p.redis as Redis);
        log(`  flushed ${keys} keys`);
        await Promise.all(members.map((m) => start.consumer("catalog", m)));
      },
      "restart-kafka-then-redis": async () => {
        await faults["restart-kafka"]();
        await faults["restart-redis"]();
      },
      "kill-kafka-leader-then-redis-master": async () => {
        await faults["kill-kafka-leader"]();
        await faults["kill-redis-master"]();
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
      // and run late), then the keys expire. CLIENT PAUSE holds every client's commands for 0.8 s
      // (DEBUG SLEEP would, but Redis 7 refuses DEBUG unless enable-debug-command is set); on the
      // cluster every master pauses, for less than the node timeout, so no failover follows.
      "redis-timeout-then-expiry": async () => {
        const pause = (node: Redis) => node.call("CLIENT", "PAUSE", "800", "ALL");
        if (clusters) await onEveryMaster(pause);
        else {
          const blocker = new Redis(redisServer!.url);
          try {
            await pause(blocker);
          } finally {
            blocker.disconnect();
          }
        }
        await Bun.sleep(800);
        await deleteKeys(p.redis, `${p.prefix}:catalog:product`);
        await deleteKeys(p.redis, `${p.prefix}:storefront:product`);
      },
      // The near caches' bus fails: every pub/sub connection (the change feeds) is killed again
      // and again for 2 s while writes go on, so change messages are lost and the feeds resubscribe
      // (gaps) and fall silent (L1 steps aside). On the cluster, on every node.
      "change-feed-outage": async () => {
        // One connection per node for the whole outage (the node list read once).
        const nodes = clusters
          ? lines(await cl().redis("nodes"))
              .flatMap((l) => l.split(","))
              .map((hp) => new Redis({ host: "127.0.0.1", port: Number(hp.split(":").at(-1)), maxRetriesPerRequest: 0 }))
          : [new Redis(redisServer!.url, { maxRetriesPerRequest: 0 })];
        for (const node of nodes) node.on("error", () => {});
        let killed = 0;
        try {
          const until = performance.now() + 2000;
          while (performance.now() < until) {
            const counts = await Promise.all(nodes.map((node) => node.call("CLIENT", "KILL", "TYPE", "pubsub").catch(() => 0)));
            killed += counts.reduce((n: number, c) => n + Number(c), 0);
            await Bun.sleep(100);
          }
        } finally {
          for (const node of nodes) node.disconnect();
        }
        log(`  killed ${killed} subscriber connections`);
      },
      // The relay's PostgreSQL session is terminated while it leads (the process lives on); on the
      // cluster the standby's session too.
      "kill-relay-session": async () => {
        const { rows } = await p.db.query<{ n: number }>(
          "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'catalog-relay' AND datname = current_database()",
        );
        if (rows[0]!.n === 0) throw new Error("no relay session to terminate");
      },
    };

    // On the cluster, before the next fault: every Redis replica has its copy again (a master
    // killed next can be replaced), and after a Kafka node's restart every partition is back to
    // three in-sync replicas (else the next node's death could take a partition below
    // min.insync.replicas). Not counted in the healing time.
    const settle = async () => {
      if (!clusters) return;
      const t0 = performance.now();
      await clusters.redis("wait", "60");
      if (kafkaNodeRestarted) {
        await waitFor(async () => (await clusters.kafka("under-replicated").catch((e) => String(e))) === "", 120_000, "every kafka partition to have three in-sync replicas");
        kafkaNodeRestarted = false;
      }
      const ms = Math.round(performance.now() - t0);
      if (ms > 1000) log(`  clusters whole again after ${ms} ms more`);
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
      await settle();
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
    const onTopic = new Set((await p.dump()).map((m) => `${m.key}|${m.headers["x-product-version"]}`));
    result.lostEvents = rows.map((r) => `${r.product_id}|${r.version}`).filter((k) => !onTopic.has(k));
    if (result.lostEvents.length) {
      // What the outbox says of each: when it was sent, and its neighbours' fate (a whole batch, or one row?).
      const detail = await p.db.query<{ product_id: string; version: number; id: string; created_at: Date; sent_at: Date }>(
        "SELECT e.product_id, e.version, o.id::text, o.created_at, o.sent_at FROM events e JOIN outbox o ON o.event_id = e.event_id WHERE (e.product_id || '|' || e.version) = ANY($1) ORDER BY o.id",
        [result.lostEvents],
      );
      for (const r of detail.rows) log(`lost: ${r.product_id} v${r.version}, outbox row ${r.id}, created ${r.created_at.toISOString()}, sent ${r.sent_at.toISOString()}`);
      log(`messages on the topic: ${onTopic.size}; rows sent: ${rows.length}`);
      // Physically in the log but not committed (behind an open transaction, or aborted), or not there at all?
      const uncommitted = new Set((await p.dump({ KAFKA_ISOLATION: "read_uncommitted" })).map((m) => `${m.key}|${m.headers["x-product-version"]}`));
      log(`lost events in the log read uncommitted: ${result.lostEvents.filter((k) => uncommitted.has(k)).length} of ${result.lostEvents.length}`);
    }
    for (const stale of result.checker.namespaces.flatMap((n) => n.stale)) {
      const [ns, id] = stale.split(" ")[0]!.split("|") as [string, string];
      const versions = rows.filter((r) => r.product_id === id).map((r) => r.version).sort((a, b) => a - b);
      log(`stale ${stale}: cache ${await p.redis.get(p.key(ns, id))}; events ${versions.join(",")}; on topic ${[...onTopic].filter((k) => k.startsWith(`${id}|`)).join(",")}`);
    }
    // Healed without a human: no process the run did not kill died by itself.
    // (A native abort, such as librdkafka's assertions, ends a process by a signal: no exit code.)
    result.crashedProcesses = Object.entries(procs)
      .filter(([, proc]) => proc.exitCode !== null || proc.signalCode !== null)
      .map(([name, proc]) => `${name} ${proc.exitCode !== null ? `exited ${proc.exitCode}` : `killed by ${proc.signalCode}`}`);
    return result;
  } finally {
    log("cleaning up");
    await checker.stop();
    log("checker stopped");
  }
}
