// An isolated pipeline for end-to-end tests: its own database (migrated), topics, cache key prefix
// and consumer groups, with the real processes: the api (Bun), the relay and consumers (Node 24).
import Redis, { Cluster } from "ioredis";
import pg from "pg";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { decodeEntry, keyLayout } from "../../src/infra/cache-format.ts";
import { TEST_REDIS_CLUSTER_NODES, ensureRedisCluster } from "./redis-cluster.ts";
import { BUN, NODE24, ROOT, spawn, type Proc } from "./processes.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, deleteKeys, uniquePrefix, waitFor } from "./services.ts";

export type Pipeline = Awaited<ReturnType<typeof createPipeline>>;

async function run(cmd: string[], env: Record<string, string> = {}, input?: string): Promise<string> {
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: input === undefined ? "ignore" : new Blob([input]) });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${err || out}`);
  return out;
}

/** scripts/kafka-tool.ts on Node 24; `env` names other brokers (KAFKA_BROKERS) or replicas. */
export const kafkaTool = (args: string[], input?: string, env: Record<string, string> = {}) => run([NODE24, "scripts/kafka-tool.ts", ...args], env, input);

export type TopicMessage = { partition: number; offset: string; timestamp: string | null; key: string | null; value: string | null; headers: Record<string, string> };
export async function dumpTopic(topic: string, env: Record<string, string> = {}): Promise<TopicMessage[]> {
  const out = await kafkaTool(["dump", topic, "--json"], undefined, env);
  return out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as TopicMessage);
}

export async function createPipeline(label: string, options: { redisUrl?: string; redisClusterNodes?: string[]; brokers?: string; replicas?: number } = {}) {
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  // A Redis Cluster (REDIS_CLUSTER_NODES for every process) instead of one server.
  const clusterNodes = options.redisClusterNodes ?? null;
  // The tests' cluster is started on first use; another (the chaos run's own) is its caller's.
  if (clusterNodes && clusterNodes.join(",") === TEST_REDIS_CLUSTER_NODES.join(",")) ensureRedisCluster();
  // Another Kafka (the three-node cluster): its bootstrap list, and topics with that many replicas.
  const kafkaEnv: Record<string, string> = options.brokers
    ? { KAFKA_BROKERS: options.brokers, KAFKA_REPLICATION_FACTOR: String(options.replicas ?? 1), KAFKA_MIN_INSYNC_REPLICAS: String(Math.min(2, options.replicas ?? 1)) }
    : {};
  const prefix = uniquePrefix(label).replaceAll("-", "_");
  const database = `catalog_e2e_${prefix}`.toLowerCase();
  const databaseUrl = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, `/${database}$1`);
  const topic = `e2e.${prefix}`;
  const dlqTopic = `${topic}.dlq`;
  await run([BUN, "scripts/migrate.ts", "deploy"], { DATABASE_URL: databaseUrl });
  await kafkaTool(["create", topic, "6"], undefined, kafkaEnv);
  await kafkaTool(["create", dlqTopic, "1"], undefined, kafkaEnv);

  const db = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  const redis: Redis | Cluster = clusterNodes
    ? new Cluster(
        clusterNodes.map((n) => ({ host: n.slice(0, n.lastIndexOf(":")), port: Number(n.slice(n.lastIndexOf(":") + 1)) })),
        {}, // no auto-pipelining on a Cluster: see createRedisClient
      )
    : new Redis(redisUrl);
  redis.on("error", () => {}); // the chaos suite restarts this Redis; commands fail and are retried by the callers
  const procs = new Set<Proc>();
  const env = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    ...(clusterNodes ? { REDIS_CLUSTER_NODES: clusterNodes.join(",") } : {}),
    KAFKA_TOPIC: topic,
    KAFKA_DLQ_TOPIC: dlqTopic,
    CACHE_KEY_PREFIX: prefix,
    METRICS_PORT: "0",
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "info",
    ...(options.brokers ? { KAFKA_BROKERS: options.brokers } : {}),
    ...extra,
  });

  // Every process's output is kept in .run/test-logs/ for reading after a failure.
  const logDir = resolve(ROOT, ".run/test-logs");
  mkdirSync(logDir, { recursive: true });
  let seq = 0;
  function track(proc: Proc, name: string) {
    procs.add(proc);
    const file = resolve(logDir, `${prefix}-${++seq}-${name}.log`);
    void proc.exited.then(() => {
      procs.delete(proc);
      writeFileSync(file, proc.output());
    });
    return proc;
  }

  async function started(proc: Proc, pattern: RegExp, what: string) {
    await waitFor(() => pattern.test(proc.output()) || proc.exitCode !== null, 30_000, what);
    if (proc.exitCode !== null) throw new Error(`${what} exited ${proc.exitCode}:\n${proc.output()}`);
    return proc;
  }

  const pipeline = {
    prefix,
    topic,
    dlqTopic,
    databaseUrl,
    db,
    redis,
    key: (namespace: string, id: string) => keyLayout(prefix, namespace, clusterNodes !== null).entry(id),

    /** The api as a process; write-through off unless asked, so only the pipeline fills caches. */
    async startApi(extra: Record<string, string> = {}) {
      const proc = track(spawn([BUN, "src/main.ts"], env({ PORT: "0", CACHE_WRITE_THROUGH: "false", ...extra })), "api");
      await started(proc, /"msg":"api listening"/, "the api");
      const url = /"url":"(http:[^"]+)"/.exec(proc.output())![1]!;
      return Object.assign(proc, { url });
    },
    /** The storefront service as a process, reading its "storefront" namespace and `catalogUrl` on a miss. */
    async startStorefront(catalogUrl: string, extra: Record<string, string> = {}) {
      const proc = track(spawn([BUN, "storefront/main.ts"], env({ PORT: "0", CATALOG_URL: catalogUrl, ...extra })), "storefront");
      await started(proc, /"msg":"storefront listening"/, "the storefront");
      const url = /"url":"(http:[^"]+)"/.exec(proc.output())![1]!;
      return Object.assign(proc, { url });
    },
    async startRelay(extra: Record<string, string> = {}) {
      return started(track(spawn([NODE24, "relay/main.ts"], env(extra)), "relay"), /"msg":"relay started"/, "the relay");
    },
    async startConsumer(namespace: string, mode: "rebuild" | "evict", extra: Record<string, string> = {}) {
      const proc = track(
        spawn([NODE24, "consumers/consumer.ts"], env({ CACHE_NAMESPACE: namespace, CONSUMER_MODE: mode, CONSUMER_GROUP: `${prefix}.${namespace}`, CONSUMER_INSTANCE_ID: `${namespace}-1`, ...extra })),
        `consumer-${namespace}`,
      );
      return started(proc, /"msg":"consumer started"/, `the ${namespace} consumer`);
    },
    /** Versions of these products as each cache namespace holds them, markers included (null: no entry). */
    async cachedVersions(namespace: string, ids: readonly string[]): Promise<(number | null)[]> {
      if (ids.length === 0) return [];
      // One GET per key: on a Cluster the keys are in many slots (auto-pipelined per node).
      const values = await Promise.all(ids.map((id) => redis.get(pipeline.key(namespace, id))));
      return values.map((v) => decodeEntry(v)?.version ?? null);
    },
    /** A product's entry as "<version>|<kind>|<payload>" (its epoch left out), or null. */
    async cachedEntry(namespace: string, id: string): Promise<string | null> {
      const e = decodeEntry(await redis.get(pipeline.key(namespace, id)));
      return e ? `${e.version}|${e.kind}|${e.payload}` : null;
    },
    /** The messages of the pipeline's topic, read to its end (read_committed). */
    /** The topic's messages (committed; `{KAFKA_ISOLATION: "read_uncommitted"}` for all that was written). */
    dump: (env: Record<string, string> = {}) => dumpTopic(topic, { ...kafkaEnv, ...env }),
    async createProducts(apiUrl: string, label: string, n: number) {
      const ids = Array.from({ length: n }, (_, i) => `${prefix}-${label}${i}`);
      await Promise.all(ids.map((id) => http(apiUrl, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" })));
      return ids;
    },
    /**
     * Writes to `ids` round-robin, `concurrency` at a time, until stopped, so a fault lands while
     * writes are in flight. A test steps on when enough writes were acknowledged (committed in
     * PostgreSQL) since the last step, never after a pause.
     */
    startWriteLoad(apiUrl: string, ids: readonly string[], concurrency = 4) {
      let next = 0;
      let acknowledged = 0;
      let running = true;
      let failure: Error | null = null;
      const worker = async () => {
        while (running && !failure) {
          const n = next++;
          const r = await http(apiUrl, "PATCH", `/products/${ids[n % ids.length]!}`, { priceCents: n });
          if (r.status !== 200) failure = new Error(`write ${n} failed: ${r.status} ${JSON.stringify(r.body)}`);
          else acknowledged++;
        }
      };
      const workers = Promise.all(Array.from({ length: concurrency }, worker));
      return {
        /** Resolves once `n` more writes than now have been acknowledged. */
        async more(n: number, what: string) {
          const target = acknowledged + n;
          await waitFor(
            () => {
              if (failure) throw failure;
              return acknowledged >= target;
            },
            30_000,
            `${n} more writes acknowledged ${what}`,
          );
        },
        /** Stops the writers; returns how many writes were acknowledged in all. */
        async stop() {
          running = false;
          await workers;
          if (failure) throw failure;
          return acknowledged;
        },
      };
    },
    /** Outbox rows of these products: committed, and of those not yet marked sent to the broker. */
    async outboxRows(ids: readonly string[]) {
      const { rows } = await db.query<{ total: number; unsent: number }>(
        "SELECT count(*)::int AS total, (count(*) FILTER (WHERE sent_at IS NULL))::int AS unsent FROM outbox WHERE product_id = ANY($1)",
        [ids],
      );
      return rows[0]!;
    },
    /** Resolves once each namespace holds the latest version of every product. */
    async converged(ids: readonly string[], namespaces: readonly string[], timeoutMs = 30_000) {
      const latest = await pipeline.latestVersions(ids);
      const want = JSON.stringify(ids.map((id) => latest.get(id)));
      for (const ns of namespaces) {
        await waitFor(async () => JSON.stringify(await pipeline.cachedVersions(ns, ids)) === want, timeoutMs, `${ns} to converge`);
      }
    },
    /**
     * The topic against the event store: every event present, and per product the first deliveries
     * in version order. `mismatches` lists what differs (empty when they agree).
     */
    async topicAgainstEventStore(ids: readonly string[]) {
      const { rows } = await db.query<{ product_id: string; version: number }>(
        "SELECT product_id, version FROM events WHERE product_id = ANY($1) ORDER BY product_id, version",
        [ids],
      );
      const messages = (await pipeline.dump()).filter((m) => m.key && ids.includes(m.key));
      const mismatches: string[] = [];
      const byProduct = new Map<string, number[]>();
      for (const m of messages.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset))) {
        const v = Number(m.headers["x-product-version"]);
        if (JSON.parse(m.value!).version !== v) mismatches.push(`${m.key}: header version ${v}, payload ${JSON.parse(m.value!).version}`);
        byProduct.set(m.key!, [...(byProduct.get(m.key!) ?? []), v]);
      }
      const firstDeliveries = (vs: number[]) => vs.filter((v, i) => vs.indexOf(v) === i);
      const expected = new Map<string, number[]>();
      for (const r of rows) expected.set(r.product_id, [...(expected.get(r.product_id) ?? []), r.version]);
      for (const id of ids) {
        const got = firstDeliveries(byProduct.get(id) ?? []);
        if (JSON.stringify(got) !== JSON.stringify(expected.get(id))) mismatches.push(`${id}: topic ${got.join(",")}, events ${expected.get(id)?.join(",")}`);
      }
      return { mismatches, messages: messages.length, events: rows.length };
    },
    async latestVersions(ids: readonly string[]): Promise<Map<string, number>> {
      const { rows } = await db.query<{ id: string; version: number }>("SELECT id, version FROM product_snapshots WHERE id = ANY($1)", [ids]);
      return new Map(rows.map((r) => [r.id, r.version]));
    },
    async close() {
      for (const p of procs) p.kill("SIGKILL");
      await Promise.all([...procs].map((p) => p.exited));
      await kafkaTool(["delete", topic], undefined, kafkaEnv).catch(() => {});
      await kafkaTool(["delete", dlqTopic], undefined, kafkaEnv).catch(() => {});
      await deleteKeys(redis, prefix);
      redis.disconnect();
      await db.end();
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, "/postgres$1") });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
    },
  };
  return pipeline;
}

/** JSON HTTP helper for the api process. */
export async function http(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** Quantile of a sorted list (nearest rank). */
/**
 * Open-loop writes for the commit-to-* benchmarks: `total` PATCHes of random products of `ids` at
 * `rate` per second, each sent at its intended start (a slow system cannot slow the load down).
 * Returns each acknowledged write (product, version, when), the elapsed seconds, and how many
 * writes started more than 50 ms late.
 */
export async function openLoopWrites(apiUrl: string, ids: readonly string[], rate: number, total: number) {
  const acks: { id: string; version: number; at: number }[] = [];
  const start = performance.now() + 50;
  let late = 0;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    else if (wait < -50) late++;
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    inflight.push(
      http(apiUrl, "PATCH", `/products/${id}`, { priceCents: i + 2 }).then((r) => {
        if (r.status !== 200) throw new Error(`write failed: ${r.status}`);
        acks.push({ id, version: r.body.version, at: performance.now() });
      }),
    );
  }
  await Promise.all(inflight);
  return { acks, elapsed: (performance.now() - start) / 1000, late };
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/**
 * Samples the caches while a test runs: records when each product first reached each version and
 * fails if a version ever goes down (invariant 1).
 */
export function startSampler(p: Pipeline, namespaces: readonly string[], ids: () => readonly string[], everyMs = 5) {
  const last = new Map<string, number>();
  const firstSeen = new Map<string, number>(); // `${ns}|${id}|${version}` → time
  const regressions: string[] = [];
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const current = ids();
      for (const ns of namespaces) {
        const versions = await p.cachedVersions(ns, current).catch(() => null);
        if (!versions) continue;
        const now = performance.now();
        current.forEach((id, i) => {
          const v = versions[i];
          if (v === null || v === undefined) return; // an entry may expire or be absent; it may not go back
          const k = `${ns}|${id}`;
          const prev = last.get(k);
          if (prev !== undefined && v < prev) regressions.push(`${k}: ${prev} → ${v}`);
          last.set(k, Math.max(prev ?? 0, v));
          if (!firstSeen.has(`${k}|${v}`)) firstSeen.set(`${k}|${v}`, now);
        });
      }
      samples++;
      await Bun.sleep(everyMs);
    }
  })();
  return {
    firstSeen,
    regressions,
    samples: () => samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}
