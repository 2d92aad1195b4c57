// The operator's JSON views, behind the admin guard (bearer token or console session): the live
// processes and each namespace at a glance, one product's entry in every namespace against the event
// store, and the dead letters with their re-drive. The console (console.ts) is a page over these.
import { Elysia, t } from "elysia";
import type { Logger } from "pino";
import { CatalogError } from "../catalog/errors.ts";
import type { ProductEvent } from "../catalog/events.ts";
import type { DeadLetterView } from "../infra/dead-letters.ts";
import { byRoleNamespaceInstance, type LiveProcess } from "../infra/heartbeat.ts";
import { inspectProduct, type RawEntryView } from "../usecases/inspect-product.ts";
import { ServiceUnavailableError } from "../usecases/ports.ts";
import { operatorDocs } from "./operator-docs.ts";
import { ProductId } from "./schemas.ts";

export type OperatorDeps = {
  logger: Logger;
  /** The api's own namespace, and those the views always show (CONSOLE_NAMESPACES). */
  namespaces: readonly string[];
  heartbeatIntervalMs: number;
  processes(): Promise<LiveProcess[]>;
  /** The outbox rows the relay has not sent yet, and the age of the oldest. */
  backlog(): Promise<{ rows: number; oldestAgeSeconds: number }>;
  history(id: string): Promise<ProductEvent[]>;
  snapshot(id: string): Promise<{ version: number; deleted: boolean } | null>;
  entries(namespaces: readonly string[], id: string): Promise<RawEntryView[]>;
  deadLetters(limit: number): Promise<DeadLetterView>;
  /** Sends the dead letters (of one group, or all) back to their topic; rejects when it could not. */
  redrive(group: string | undefined): Promise<{ output: string }>;
  now?: () => number;
};

/** How long a process that stopped beating stays listed, as dead. */
const DEAD_KEPT_MS = 10 * 60_000;

export type ProcessView = LiveProcess & { status: "alive" | "late" | "dead"; lastSeenAgoMs: number };

/**
 * The processes with their state: alive (beating), late (its last beat is over two intervals old:
 * stalled, or dying), dead (its heartbeat expired or was deleted; kept in view for ten minutes by
 * this api instance, which remembers what it saw).
 */
export function processTracker(intervalMs: number, now: () => number = Date.now) {
  const seen = new Map<string, LiveProcess & { seenAt: number }>();
  return (live: readonly LiveProcess[]): ProcessView[] => {
    const t = now();
    const present = new Set(live.map((p) => p.key));
    for (const p of live) seen.set(p.key, { ...p, seenAt: t });
    const out: ProcessView[] = [];
    for (const [key, p] of seen) {
      const lastBeat = Date.parse(p.at);
      if (present.has(key)) {
        const ago = Math.max(0, t - lastBeat);
        const { seenAt: _, ...rest } = p;
        out.push({ ...rest, status: ago > 2 * intervalMs ? "late" : "alive", lastSeenAgoMs: ago });
      } else if (t - p.seenAt > DEAD_KEPT_MS) {
        seen.delete(key);
      } else {
        const { seenAt: _, ...rest } = p;
        out.push({ ...rest, ttlMs: 0, status: "dead", lastSeenAgoMs: Math.max(0, t - lastBeat) });
      }
    }
    return out.sort(byRoleNamespaceInstance);
  };
}

export type NamespaceSummary = {
  namespace: string;
  readers: number;
  hits: number;
  misses: number;
  /** hits / (hits + misses) over the live readers since they started; null before any read. */
  hitRatio: number | null;
  fillsRefused: number;
  consumers: number;
  /** The sum of the live consumers' lag, in messages (null: no consumer has measured it yet). */
  lag: number | null;
  /** The highest commit-to-cache p99 of the namespace's consumers (their last 1,024 events). */
  commitToCacheP99Ms: number | null;
  lastAppliedAt: string | null;
};

/** The namespaces always shown, with those of the processes, sorted. */
const namespacesOf = (namespaces: readonly string[], processes: readonly LiveProcess[]) =>
  [...new Set([...namespaces, ...processes.flatMap((p) => (p.namespace ? [p.namespace] : []))])].sort();

export function summarizeNamespaces(namespaces: readonly string[], processes: readonly ProcessView[]): NamespaceSummary[] {
  return namespacesOf(namespaces, processes).map((namespace) => {
    const live = processes.filter((p) => p.namespace === namespace && p.status !== "dead");
    const readers = live.filter((p) => p.role === "api" || p.role === "storefront");
    const consumers = live.filter((p) => p.role === "consumer");
    const sum = (f: (p: ProcessView) => number) => readers.reduce((a, p) => a + f(p), 0);
    const hits = sum((p) => p.cache?.hits ?? 0);
    const misses = sum((p) => p.cache?.misses ?? 0);
    const lags = consumers.flatMap((p) => (p.lag ? [p.lag.total] : []));
    const p99s = consumers.flatMap((p) => (p.commitToCache ? [p.commitToCache.p99Ms] : []));
    const applied = consumers.flatMap((p) => (p.lastAppliedAt ? [p.lastAppliedAt] : [])).sort();
    return {
      namespace,
      readers: readers.length,
      hits,
      misses,
      hitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
      fillsRefused: sum((p) => p.cache?.fillsRefused ?? 0),
      consumers: consumers.length,
      lag: lags.length > 0 ? lags.reduce((a, b) => a + b, 0) : null,
      commitToCacheP99Ms: p99s.length > 0 ? Math.max(...p99s) : null,
      lastAppliedAt: applied.at(-1) ?? null,
    };
  });
}

const NamespaceList = t.String({ pattern: "^[A-Za-z0-9_-]{1,32}(,[A-Za-z0-9_-]{1,32}){0,31}$", description: "comma-separated namespaces; default: every known one" });

export function operatorRoutes(deps: OperatorDeps) {
  const track = processTracker(deps.heartbeatIntervalMs, deps.now);
  const knownNamespaces = async () => namespacesOf(deps.namespaces, await deps.processes());
  return new Elysia({ name: "operator" })
    .get(
      "/admin/overview",
      async () => {
        const [processes, backlog] = await Promise.all([
          deps.processes().then(track),
          deps.backlog().then(
            (b) => ({ ...b, error: null as string | null }),
            (err: Error) => ({ rows: null, oldestAgeSeconds: null, error: err.message }),
          ),
        ]);
        const leader = processes.find((p) => p.role === "relay" && p.leader && p.status !== "dead");
        return {
          at: new Date((deps.now ?? Date.now)()).toISOString(),
          heartbeatIntervalMs: deps.heartbeatIntervalMs,
          processes,
          namespaces: summarizeNamespaces(deps.namespaces, processes),
          relay: { leader: leader?.instance ?? null, backlogRows: backlog.rows, oldestAgeSeconds: backlog.oldestAgeSeconds, error: backlog.error },
        };
      },
      { detail: operatorDocs.overview },
    )
    .get(
      "/admin/products/:id/cache",
      async ({ params, query }) => {
        const namespaces = query.namespace ? [...new Set(query.namespace.split(","))] : await knownNamespaces();
        const [events, snapshot, entries] = await Promise.all([deps.history(params.id), deps.snapshot(params.id), deps.entries(namespaces, params.id)]);
        return inspectProduct({ id: params.id, events, snapshot, entries });
      },
      { params: t.Object({ id: ProductId }), query: t.Object({ namespace: t.Optional(NamespaceList) }), detail: operatorDocs.productCache },
    )
    .get(
      "/admin/dead-letters",
      async ({ query }) => deps.deadLetters(query.limit ? Number(query.limit) : 20),
      { query: t.Object({ limit: t.Optional(t.String({ pattern: "^([1-9][0-9]?|100)$", description: "1 to 100 (default 20)" })) }), detail: operatorDocs.deadLetters },
    )
    .post(
      "/admin/dead-letters/redrive",
      async ({ query }) => {
        const group = query.group;
        deps.logger.info({ group: group ?? "all" }, "dead letters re-driven by an operator");
        try {
          return await deps.redrive(group);
        } catch (err) {
          if (err instanceof CatalogError || err instanceof ServiceUnavailableError) throw err; // "relay": none took the request
          throw new ServiceUnavailableError("kafka", err);
        }
      },
      {
        query: t.Object({ group: t.Optional(t.String({ pattern: "^[A-Za-z0-9._-]{1,249}$", description: "only this consumer group's dead letters (default: all)" })) }),
        parse: "none",
        detail: operatorDocs.redrive,
      },
    );
}
