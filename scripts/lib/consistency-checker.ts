// A consistency checker in the spirit of Meta's Polaris: it learns every committed write from the
// event store and watches each service's cache until that write is visible there, recording how
// long that took. A cache entry is consistent with a write of version N when it holds version N or
// newer, or holds nothing (a miss reads PostgreSQL); it is stale while it holds an older version.
// It also records any version that goes down between two observations of a key (a regression).
import Redis from "ioredis";
import pg from "pg";

export type CheckerOptions = {
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
  namespaces: string[];
  pollMs?: number;
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
  regressions: string[];
  stale: string[];
};
export type CheckerReport = { writes: number; namespaces: NamespaceReport[]; ok: boolean };

const versionOf = (raw: string | null): number | null => {
  const m = raw ? /^(\d+)\|[ptm]\|/.exec(raw) : null;
  return m ? Number(m[1]) : null;
};
const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : 0);

export async function startConsistencyChecker(opts: CheckerOptions) {
  const pollMs = opts.pollMs ?? 10;
  // query_timeout: a query on a connection PostgreSQL dropped mid-restart must not wait forever.
  const pgConfig = { connectionString: opts.databaseUrl, application_name: "consistency-checker", query_timeout: 5000, connectionTimeoutMillis: 5000 };
  let client = new pg.Client(pgConfig);
  client.on("error", () => {}); // PostgreSQL may restart under a chaos test: reconnected below
  await client.connect();
  const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true, retryStrategy: () => 100, commandTimeout: 2000 });
  redis.on("error", () => {});
  const key = (ns: string, id: string) => `${opts.keyPrefix}:${ns}:product:{${id}}`;

  const startRow = (await client.query<{ p: string }>("SELECT coalesce(max(position), 0)::text AS p FROM events")).rows[0]!.p;
  let last = BigInt(startRow);
  const gaps = new Map<bigint, number>(); // positions skipped (maybe a transaction not yet committed) → since when
  const writes: Write[] = [];
  const pending = new Map<string, Write[]>(); // `${ns}|${id}` → writes not yet consistent there
  const lastSeen = new Map<string, number>(); // `${ns}|${id}` → highest version observed
  const watchUntil = new Map<string, number>(); // keep sampling a key for regressions a while after its writes
  const regressions = new Map<string, string[]>(opts.namespaces.map((ns) => [ns, []]));
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
    const keys = [...watched];
    const values = await redis.mget(keys.map((k) => key(k.slice(0, k.indexOf("|")), k.slice(k.indexOf("|") + 1))));
    const seenAt = Date.now();
    keys.forEach((k, i) => {
      const ns = k.slice(0, k.indexOf("|"));
      const v = versionOf(values[i] ?? null);
      if (v !== null) {
        const prev = lastSeen.get(k);
        if (prev !== undefined && v < prev) regressions.get(ns)!.push(`${k}: ${prev} → ${v}`);
        lastSeen.set(k, Math.max(prev ?? 0, v));
      }
      const waiting = pending.get(k);
      if (!waiting) return;
      const still = waiting.filter((w) => {
        if (v === null || v >= w.version) {
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

  function report(): CheckerReport {
    const namespaces = opts.namespaces.map((ns): NamespaceReport => {
      const lags = writes.flatMap((w) => (w.consistentAt.has(ns) ? [Math.max(0, w.consistentAt.get(ns)! - w.occurredAt)] : [])).sort((a, b) => a - b);
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
        regressions: regressions.get(ns)!,
        stale,
      };
    });
    return { writes: writes.length, namespaces, ok: namespaces.every((n) => n.regressions.length === 0 && n.stale.length === 0) };
  }

  return {
    report,
    /** Waits until no write is waiting anywhere (or the time runs out), then reports. */
    async drain(timeoutMs: number): Promise<CheckerReport> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline && (pending.size > 0 || gaps.size > 0)) await Bun.sleep(50);
      await Bun.sleep(pollMs * 3);
      return report();
    },
    async stop() {
      running = false;
      await loop;
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
      `  ${n.namespace.padEnd(12)} within 1 s ${pct(n.within1s)}, within 5 s ${pct(n.within5s)}, at end ${pct(n.atEnd)}; lag p50 ${n.p50LagMs} ms, p99 ${n.p99LagMs} ms, worst ${n.worstLagMs} ms; regressions ${n.regressions.length}, stale ${n.stale.length}`,
    );
    for (const x of [...n.regressions, ...n.stale].slice(0, 10)) lines.push(`    ${x}`);
  }
  return lines.join("\n");
}
