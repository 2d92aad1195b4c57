// A consistency checker in the spirit of Meta's Polaris: it learns every committed write from the
// event store and watches each service's cache until that write is visible there, recording how
// long that took.
//
// What it calls what, per namespace and product:
// - consistent with a write of version N: the key holds version N or newer (of any kind), or holds
//   nothing a read may serve below N (no entry, or an entry from before the fence last moved): a
//   read then fills from PostgreSQL. Waiting otherwise; "stale" when still waiting at the end.
// - regression: what a client can be served went down. From the raw keys: a servable entry (a
//   product or tombstone stamped with the fence's current epoch, the fence armed on the server that
//   holds it) below the highest servable version seen before, across epochs. From HTTP: a GET through an api returning a version below one a
//   GET that had finished before it returned.
// - weakened: a key's version went down without anything servable going down: a marker, or an
//   entry of an old epoch, replaced by a lower one after Redis lost data. Never served, so not a
//   regression; it fences older fills less than before, which is why it is reported on its own.
import { Cluster } from "ioredis";
import pg from "pg";
import { decodeEntry, decodeFence, keyLayout, type KeyLayout } from "../../src/infra/cache-format.ts";
import { createRedisClient } from "../../src/infra/redis-cache.ts";
import { isServable } from "../../src/usecases/cache-entry.ts";

export type CheckerOptions = {
  databaseUrl: string;
  redisUrl: string;
  /** A Redis Cluster's seed nodes (host:port); REDIS_URL is then not used. */
  redisClusterNodes?: string[] | null;
  keyPrefix: string;
  namespaces: string[];
  pollMs?: number;
  /** Api instances to read through, per namespace (a function: instances restart on new ports). */
  http?: { namespace: string; urls: () => string[] }[];
};

type Write = { productId: string; version: number; occurredAt: number; consistentAt: Map<string, number> };

export type NamespaceReport = {
  namespace: string;
  writes: number;
  within1s: number;
  within5s: number;
  atEnd: number;
  p50LagMs: number;
  p99LagMs: number;
  worstLagMs: number;
  /** The write with the worst lag, and what happened last before it committed (see note()). */
  worst: string | null;
  regressions: string[];
  weakened: string[];
  stale: string[];
  /** GETs through the api that returned a product the cache served or now holds. */
  httpReads: number;
  /** GETs PostgreSQL answered alone (Cache-Status detail=not-stored): truth, but not the namespace's. */
  httpDirect: number;
  /** Of httpReads, those an api's near cache (L1) answered (Cache-Status detail=l1). */
  httpL1: number;
};
export type CheckerReport = { writes: number; namespaces: NamespaceReport[]; ok: boolean };

const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : 0);

export async function startConsistencyChecker(opts: CheckerOptions) {
  const pollMs = opts.pollMs ?? 10;
  // query_timeout: a query on a connection PostgreSQL dropped mid-restart must not wait forever.
  const pgConfig = { connectionString: opts.databaseUrl, application_name: "consistency-checker", query_timeout: 5000, connectionTimeoutMillis: 5000 };
  let client = new pg.Client(pgConfig);
  client.on("error", () => {}); // PostgreSQL may restart under a chaos test: reconnected below
  await client.connect();
  const redis = createRedisClient({ redisUrl: opts.redisUrl, redisClusterNodes: opts.redisClusterNodes }, 2000, { enableOfflineQueue: true, retryStrategy: () => 100 });
  redis.on("error", () => {});
  // A fence and its entries read at once, with the run_id of the server holding them: an entry is
  // servable only under a fence armed on that very server (after a failover or a restart the old
  // fence is still there until a process re-arms it, and no process serves under it meanwhile).
  redis.defineCommand("readBucket", {
    lua: "local info = redis.call('INFO', 'server') return {string.match(info, 'run_id:(%x+)'), redis.call('GET', KEYS[1]), unpack(redis.call('MGET', unpack(KEYS, 2)))}",
  });
  const readBucket = (keys: string[]) =>
    (redis as unknown as { readBucket(n: number, ...keys: string[]): Promise<(string | null)[]> }).readBucket(keys.length, ...keys);
  const layouts = new Map<string, KeyLayout>(opts.namespaces.map((ns) => [ns, keyLayout(opts.keyPrefix, ns, redis instanceof Cluster)]));

  const startRow = (await client.query<{ p: string }>("SELECT coalesce(max(position), 0)::text AS p FROM events")).rows[0]!.p;
  let last = BigInt(startRow);
  const gaps = new Map<bigint, number>(); // positions skipped (maybe a transaction not yet committed) → since when
  const writes: Write[] = [];
  const pending = new Map<string, Write[]>(); // `${ns}|${id}` → writes not yet consistent there
  const lastRaw = new Map<string, number>(); // `${ns}|${id}` → version in the key at the last sample
  const maxServable = new Map<string, number>(); // `${ns}|${id}` → highest servable version seen
  const watchUntil = new Map<string, number>(); // keep sampling a key for regressions a while after its writes
  const regressions = new Map<string, string[]>(opts.namespaces.map((ns) => [ns, []]));
  const weakened = new Map<string, string[]>(opts.namespaces.map((ns) => [ns, []]));
  const httpReads = new Map<string, number>(opts.namespaces.map((ns) => [ns, 0]));
  const httpDirect = new Map<string, number>(opts.namespaces.map((ns) => [ns, 0]));
  const httpL1 = new Map<string, number>(opts.namespaces.map((ns) => [ns, 0]));
  const notes: { at: number; label: string }[] = [];
  let running = true;

  async function reconnect() {
    try {
      // Not awaited: end() on a connection the server already dropped can wait forever.
      void client.end().catch(() => {});
      client = new pg.Client(pgConfig);
      client.on("error", () => {});
      await client.connect();
    } catch {
      // still down; the next round tries again
    }
  }

  async function learn() {
    const gapList = [...gaps.keys()].map(String);
    const { rows } = await client.query<{ position: string; product_id: string; version: number; occurred_at: Date }>(
      "SELECT position::text, product_id, version, occurred_at FROM events WHERE position > $1 OR position = ANY($2::bigint[]) ORDER BY position",
      [String(last), gapList],
    );
    const now = Date.now();
    for (const r of rows) {
      const pos = BigInt(r.position);
      gaps.delete(pos);
      for (let p = last + 1n; p < pos; p++) gaps.set(p, now);
      if (pos > last) last = pos;
      const w: Write = { productId: r.product_id, version: r.version, occurredAt: r.occurred_at.getTime(), consistentAt: new Map() };
      writes.push(w);
      for (const ns of opts.namespaces) {
        const k = `${ns}|${r.product_id}`;
        pending.set(k, [...(pending.get(k) ?? []), w]);
      }
    }
    for (const [p, since] of gaps) if (now - since > 30_000) gaps.delete(p); // rolled back: never coming
  }

  async function observe() {
    const now = Date.now();
    const watched = new Set<string>(pending.keys());
    for (const [k, until] of watchUntil) {
      if (until < now) watchUntil.delete(k);
      else watched.add(k);
    }
    if (watched.size === 0) return;
    const keys = [...watched].map((k) => ({ k, ns: k.slice(0, k.indexOf("|")), id: k.slice(k.indexOf("|") + 1) }));
    // Each fence and its entries at once (one slot on a Cluster: an entry's bucket and its fence
    // share a hash tag), so an entry is servable under the epoch read with it.
    const groups = new Map<string, { fence: string; at: number[] }>();
    keys.forEach(({ ns, id }, i) => {
      const layout = layouts.get(ns)!;
      const fence = layout.fences[layout.bucketOf(id)]!;
      const group = groups.get(fence) ?? { fence, at: [] };
      group.at.push(i);
      groups.set(fence, group);
    });
    const read = new Array<{ raw: string | null; epoch: string | null }>(keys.length);
    await Promise.all(
      [...groups.values()].map(async ({ fence, at }) => {
        const [runId, rawFence, ...values] = await readBucket([fence, ...at.map((i) => layouts.get(keys[i]!.ns)!.entry(keys[i]!.id))]);
        const parsed = decodeFence(rawFence);
        const epoch = parsed && parsed.runId === runId ? parsed.epoch : null;
        at.forEach((i, j) => (read[i] = { raw: values[j] ?? null, epoch }));
      }),
    );
    const seenAt = Date.now();
    keys.forEach(({ k, ns }, i) => {
      const entry = decodeEntry(read[i]!.raw);
      const servable = isServable(entry, read[i]!.epoch);
      if (entry) {
        const before = lastRaw.get(k);
        const top = maxServable.get(k);
        if (servable && top !== undefined && entry.version < top) regressions.get(ns)!.push(`${k}: served ${top}, now ${entry.version} (cache)`);
        else if (before !== undefined && entry.version < before) weakened.get(ns)!.push(`${k}: ${before} → ${entry.version} (${entry.kind}${servable ? "" : ", not servable"})`);
        lastRaw.set(k, entry.version);
        if (servable) maxServable.set(k, Math.max(top ?? 0, entry.version));
      }
      const waiting = pending.get(k);
      if (!waiting) return;
      const still = waiting.filter((w) => {
        if (entry === null || entry.version >= w.version || (entry.kind !== "m" && !servable)) {
          w.consistentAt.set(ns, seenAt);
          return false;
        }
        return true;
      });
      if (still.length) pending.set(k, still);
      else pending.delete(k);
      watchUntil.set(k, seenAt + 5000);
    });
  }

  // Reads through the api: a few recently written products per round, each from the next instance.
  // `${ns}|${id}` → highest version returned, when, and by which api and layer (Cache-Status)
  const served = new Map<string, { version: number; at: number; via: string }>();
  let turn = 0;
  async function readHttp() {
    for (const reader of opts.http ?? []) {
      const urls = reader.urls();
      if (urls.length === 0) continue;
      const candidates = [...watchUntil.keys(), ...pending.keys()].filter((k) => k.startsWith(`${reader.namespace}|`));
      for (let i = 0; i < Math.min(8, candidates.length); i++) {
        const k = candidates[(turn + i) % candidates.length]!;
        const url = urls[turn++ % urls.length]!;
        const started = Date.now();
        try {
          const res = await fetch(`${url}/products/${encodeURIComponent(k.slice(k.indexOf("|") + 1))}`, { signal: AbortSignal.timeout(2000) });
          await res.arrayBuffer();
          if (res.status !== 200) continue;
          const version = Number(res.headers.get("etag")?.replaceAll('"', ""));
          // PostgreSQL answered alone (the api could not use the cache): not what the namespace serves.
          if (res.headers.get("cache-status")?.includes("not-stored")) {
            httpDirect.set(reader.namespace, httpDirect.get(reader.namespace)! + 1);
            continue;
          }
          httpReads.set(reader.namespace, httpReads.get(reader.namespace)! + 1);
          if (res.headers.get("cache-status")?.includes("detail=l1")) httpL1.set(reader.namespace, httpL1.get(reader.namespace)! + 1);
          const top = served.get(k);
          const via = `${url} (${res.headers.get("cache-status")})`;
          if (top && top.at < started && version < top.version) {
            const at = (t: number) => new Date(t).toISOString().slice(11, 23);
            const fault = notes.filter((n) => n.at <= started).at(-1);
            regressions
              .get(reader.namespace)!
              .push(`${k}: served ${top.version} at ${at(top.at)} by ${top.via}, then ${version} asked at ${at(started)} by ${via}; last fault before: ${fault ? `${fault.label} at ${at(fault.at)}` : "none"}`);
          }
          if (!top || version > top.version) served.set(k, { version, at: Date.now(), via });
        } catch {
          // the instance is restarting, or PostgreSQL is: nothing was served
        }
      }
    }
  }

  const loop = (async () => {
    while (running) {
      try {
        await learn();
      } catch {
        await reconnect();
      }
      try {
        await observe();
      } catch {
        // Redis away (restarting): entries cannot be observed now; they are, once it is back
      }
      await Bun.sleep(pollMs);
    }
  })();
  const httpLoop = (async () => {
    while (running && opts.http?.length) {
      await readHttp();
      await Bun.sleep(pollMs);
    }
  })();

  const describeWorst = (w: Write | undefined, ns: string): string | null => {
    if (!w) return null;
    const cause = notes.filter((n) => n.at <= w.occurredAt).at(-1);
    const after = cause ? `${Math.round((w.occurredAt - cause.at) / 100) / 10} s after ${cause.label}` : "before any fault";
    return `${w.productId} v${w.version}, committed ${after}, consistent in ${ns} after ${w.consistentAt.get(ns)! - w.occurredAt} ms`;
  };

  function report(): CheckerReport {
    const namespaces = opts.namespaces.map((ns): NamespaceReport => {
      const seen = writes.filter((w) => w.consistentAt.has(ns));
      const lags = seen.map((w) => Math.max(0, w.consistentAt.get(ns)! - w.occurredAt)).sort((a, b) => a - b);
      const worstWrite = seen.reduce<Write | undefined>((a, w) => (!a || w.consistentAt.get(ns)! - w.occurredAt > a.consistentAt.get(ns)! - a.occurredAt ? w : a), undefined);
      const stale = [...pending.entries()].filter(([k]) => k.startsWith(`${ns}|`)).map(([k, ws]) => `${k} waits for v${ws.at(-1)!.version}`);
      return {
        namespace: ns,
        writes: writes.length,
        within1s: writes.length ? lags.filter((l) => l <= 1000).length / writes.length : 1,
        within5s: writes.length ? lags.filter((l) => l <= 5000).length / writes.length : 1,
        atEnd: writes.length ? lags.length / writes.length : 1,
        p50LagMs: quantile(lags, 0.5),
        p99LagMs: quantile(lags, 0.99),
        worstLagMs: lags.at(-1) ?? 0,
        worst: describeWorst(worstWrite, ns),
        regressions: regressions.get(ns)!,
        weakened: weakened.get(ns)!,
        stale,
        httpReads: httpReads.get(ns)!,
        httpDirect: httpDirect.get(ns)!,
        httpL1: httpL1.get(ns)!,
      };
    });
    return { writes: writes.length, namespaces, ok: namespaces.every((n) => n.regressions.length === 0 && n.stale.length === 0) };
  }

  return {
    report,
    /** Marks a moment (a fault injected, say); the report names the last one before the worst lag. */
    note(label: string) {
      notes.push({ at: Date.now(), label });
    },
    /** Waits until no write is waiting anywhere (or the time runs out), then reports. */
    async drain(timeoutMs: number): Promise<CheckerReport> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && (pending.size > 0 || gaps.size > 0)) await Bun.sleep(50);
      await Bun.sleep(pollMs * 3);
      return report();
    },
    async stop() {
      running = false;
      await Promise.all([loop, httpLoop]);
      redis.disconnect();
      await Promise.race([client.end().catch(() => {}), Bun.sleep(1000)]);
    },
  };
}

export function formatReport(r: CheckerReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
  const lines = [`consistency: ${r.writes} writes observed; ${r.ok ? "OK" : "VIOLATIONS"}`];
  for (const n of r.namespaces) {
    lines.push(
      `  ${n.namespace.padEnd(12)} within 1 s ${pct(n.within1s)}, within 5 s ${pct(n.within5s)}, at end ${pct(n.atEnd)}; lag p50 ${n.p50LagMs} ms, p99 ${n.p99LagMs} ms, worst ${n.worstLagMs} ms; regressions ${n.regressions.length}, stale ${n.stale.length}, http reads ${n.httpReads} (${n.httpL1} from an api's L1; +${n.httpDirect} answered by PostgreSQL alone)`,
    );
    if (n.worst) lines.push(`    worst: ${n.worst}`);
    for (const x of [...n.regressions, ...n.stale].slice(0, 10)) lines.push(`    ${x}`);
    if (n.weakened.length) lines.push(`    weakened by data loss (markers or old-epoch entries lowered; never served): ${n.weakened.length}, e.g. ${n.weakened.slice(0, 3).join("; ")}`);
  }
  return lines.join("\n");
}
