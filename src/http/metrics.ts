// The api's Prometheus metrics (prom-client): requests by route and status with latency, and what
// the cache does. Served at GET /metrics.
import { Elysia } from "elysia";
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, createRegistry } from "../infra/metrics.ts";
import type { NearCacheStats } from "../usecases/near-cache.ts";
import type { CacheObserver } from "../usecases/ports.ts";
import { docs } from "./openapi-docs.ts";

/** The api's metrics; the storefront serves the same read-path metrics with `process: "storefront"`. */
export function createApiMetrics(options: { pendingWriteThrough?: () => number; nearCache?: () => NearCacheStats | null; process?: string } = {}) {
  const registry = createRegistry({ process: options.process ?? "api" });
  const requests = new Counter({ name: "catalog_http_requests_total", help: "Requests by method, route and status", labelNames: ["method", "route", "status"], registers: [registry] });
  const duration = new Histogram({
    name: "catalog_http_request_duration_seconds",
    help: "Request latency by method and route",
    labelNames: ["method", "route"],
    buckets: [0.0001, 0.00025, 0.0005, ...LATENCY_BUCKETS],
    registers: [registry],
  });
  const cache = new Counter({
    name: "catalog_cache_events_total",
    help: "Cache reads (hit, miss) and fills: fill_applied, fill_refused (a newer version was cached), fill_fenced (Redis lost data since the read began)",
    labelNames: ["event"],
    registers: [registry],
  });
  const fenceMoves = new Counter({
    name: "catalog_cache_fence_moves_total",
    help: "Times this process found its namespace's fence moved: Redis lost data (flush, restart, failover), and entries written before are no longer served",
    registers: [registry],
  });
  const leaseWaits = new Counter({ name: "catalog_cache_lease_waits_total", help: "Misses that waited for another process's fill: filled or timeout", labelNames: ["outcome"], registers: [registry] });
  const dbReads = new Counter({ name: "catalog_db_reads_total", help: "Products read from PostgreSQL by the read path", registers: [registry] });
  const fallbacks = new Counter({ name: "catalog_redis_fallbacks_total", help: "Redis calls that failed; the request was served from PostgreSQL", labelNames: ["op"], registers: [registry] });
  new Gauge({
    name: "catalog_write_through_pending",
    help: "Write-throughs that failed and wait for Redis to come back",
    registers: [registry],
    collect() {
      this.set(options.pendingWriteThrough?.() ?? 0);
    },
  });

  // The near cache's own counts, read at each scrape.
  new Gauge({
    name: "catalog_l1_entries",
    help: "Entries in this process's near cache (L1)",
    registers: [registry],
    collect() {
      this.set(options.nearCache?.()?.entries ?? 0);
    },
  });
  new Gauge({
    name: "catalog_l1_bytes",
    help: "Estimated bytes in this process's near cache (L1)",
    registers: [registry],
    collect() {
      this.set(options.nearCache?.()?.bytes ?? 0);
    },
  });
  const l1Counted = { hits: 0, misses: 0, dropped: 0, gaps: 0, bypassed: 0 };
  new Counter({
    name: "catalog_l1_events_total",
    help: "Near cache (L1): hits, misses (asked Redis), dropped (a change message, staleness, eviction), gaps (lost messages: emptied), bypassed (the feed unhealthy or the fence not verified)",
    labelNames: ["event"],
    registers: [registry],
    collect() {
      const s = options.nearCache?.();
      if (!s) return;
      for (const k of Object.keys(l1Counted) as (keyof typeof l1Counted)[]) {
        if (s[k] > l1Counted[k]) this.inc({ event: k }, s[k] - l1Counted[k]);
        l1Counted[k] = s[k];
      }
    },
  });

  // The same counts as plain numbers, for the process's heartbeat (the console's per-namespace view).
  const tally: CacheTally = { hits: 0, misses: 0, fillsApplied: 0, fillsRefused: 0 };
  const observer: CacheObserver = {
    hit: () => {
      tally.hits++;
      cache.inc({ event: "hit" });
    },
    miss: () => {
      tally.misses++;
      cache.inc({ event: "miss" });
    },
    fill: (outcome) => {
      if (outcome === "stored") tally.fillsApplied++;
      else if (outcome !== "fenced") tally.fillsRefused++;
      cache.inc({ event: outcome === "stored" ? "fill_applied" : outcome === "fenced" ? "fill_fenced" : "fill_refused" });
    },
    leaseWait: (outcome) => leaseWaits.inc({ outcome }),
    dbRead: (rows) => dbReads.inc(rows),
    fallback: (op) => fallbacks.inc({ op }),
  };

  const started = new WeakMap<Request, number>();
  const plugin = new Elysia({ name: "metrics" })
    .onRequest(({ request }) => {
      started.set(request, performance.now());
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set, response }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      const record = (status: number) => {
        const labels = { method: request.method, route: route || "unmatched" };
        requests.inc({ ...labels, status: String(status) });
        duration.observe(labels, (performance.now() - t0) / 1000);
      };
      // A handler that is not async but returned a promise (GET /products/:id on a miss): this hook
      // runs before the promise settles; count the request when its response is known.
      if (response instanceof Promise) {
        response.then(
          (r: unknown) => record(r instanceof Response ? r.status : Number(set.status ?? 200)),
          () => record(500),
        );
        return;
      }
      record(response instanceof Response ? response.status : Number(set.status ?? 200));
    })
    .get(
      "/metrics",
      async ({ set }) => {
        set.headers["content-type"] = registry.contentType;
        return registry.metrics();
      },
      { detail: docs.metrics },
    );

  return { registry, observer, plugin, tally, fenceMoved: () => fenceMoves.inc() };
}

/** A read path's cache counts since the process started (catalog_cache_events_total, as numbers). */
export type CacheTally = { hits: number; misses: number; fillsApplied: number; fillsRefused: number };
