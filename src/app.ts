// createApp(deps): the HTTP application, built from its dependencies so tests can drive it
// in-process with `app.handle(request)`. Production wiring lives in main.ts only.
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import type { Logger } from "pino";
import type { DecideContext } from "./catalog/decide.ts";
import { adminRoutes, type AdminDeps } from "./http/admin.ts";
import { mapError } from "./http/errors.ts";
import { healthRoutes } from "./http/health.ts";
import { createApiMetrics } from "./http/metrics.ts";
import { components, withCompleteDocument } from "./http/openapi-docs.ts";
import { productRoutes } from "./http/products.ts";
import type { CacheWriter } from "./usecases/cache-writer.ts";
import { createCommandExecutor } from "./usecases/commands.ts";
import type { NearCacheStats } from "./usecases/near-cache.ts";
import type { EventStore, ProductCache } from "./usecases/ports.ts";
import { createQueries, type QueryDeps } from "./usecases/queries.ts";
import type { ReplayRunner } from "./usecases/replay-jobs.ts";

export type AppDeps = {
  store: EventStore;
  cache: ProductCache;
  /** null switches the write-through off: only the fill and the consumers write the cache. */
  writer: CacheWriter | null;
  logger: Logger;
  ctx?: DecideContext;
  bodyLimitBytes?: number;
  /** The admin routes are mounted when a replay runner is given. */
  replay?: ReplayRunner;
  /** Bearer token of the admin routes; null or absent: open (development only; config enforces it). */
  adminToken?: string | null;
  lease?: QueryDeps["lease"];
  /** Cache "no such product" for unknown ids (default true). */
  negativeCache?: boolean;
  /** The operator's views and console under /admin/ (with the replay runner). */
  operator?: AdminDeps["operator"];
  consoleSessionTtlMs?: number;
  /** The api's cache namespace (the console's default). */
  namespace?: string;
};

/** Where the api serves its OpenAPI document (the UI at /openapi fetches it from there). */
export const OPENAPI_JSON_PATH = "/openapi/json";
/** Where the api serves the Scalar UI's standalone bundle, from node_modules. */
export const SCALAR_SCRIPT_PATH = "/openapi/scalar.js";
const SCALAR_BUNDLE = new URL("./browser/standalone.js", import.meta.resolve("@scalar/api-reference"));
const scalarScript = () =>
  new Response(Bun.file(SCALAR_BUNDLE), {
    headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
  });

/**
 * Bun's own limits for the server. The body parser answers 413 PAYLOAD_TOO_LARGE (JSON, from
 * Content-Length, before reading) above BODY_LIMIT_BYTES; Bun's limit, far above it, only stops
 * huge bodies early with a bare 413.
 */
export const serverLimits = (bodyLimitBytes: number) => ({ maxRequestBodySize: Math.max(bodyLimitBytes * 16, 1024 * 1024) });

export const defaultContext: DecideContext = { now: () => new Date(), newId: () => crypto.randomUUID() };

export function createApp(deps: AppDeps) {
  const ctx = deps.ctx ?? defaultContext;
  const bodyLimitBytes = deps.bodyLimitBytes ?? 64 * 1024;
  const metrics = createApiMetrics({
    pendingWriteThrough: () => deps.writer?.pendingCount() ?? 0,
    nearCache: () => (deps.cache as { stats?: () => NearCacheStats }).stats?.() ?? null,
  });
  deps.cache.onEpochChange(() => metrics.fenceMoved());
  const queries = createQueries({ store: deps.store, cache: deps.cache, logger: deps.logger, observe: metrics.observer, lease: deps.lease, negativeCache: deps.negativeCache });
  const app = new Elysia({ normalize: false }) // unknown fields are refused, not silently dropped
    .onError(mapError(deps.logger))
    .use(
      withCompleteDocument(openapi({
        path: "/openapi",
        specPath: OPENAPI_JSON_PATH,
        // The UI's script comes from the installed @scalar/api-reference (route below), not a CDN,
        // so the page works without internet access; no web fonts, telemetry or hosted AI features.
        scalar: {
          // Absolute: the plugin's default ("openapi/json", relative) made the page at /openapi/
          // (the router serves it with a trailing slash too) fetch /openapi/openapi/json, a 404.
          url: OPENAPI_JSON_PATH,
          cdn: SCALAR_SCRIPT_PATH,
          withDefaultFonts: false,
          telemetry: false,
          showDeveloperTools: "never",
          agent: { disabled: true },
          mcp: { disabled: true },
        } as never,
        documentation: {
          info: {
            title: "catalog-cache",
            version: "0.1.0",
            description: "Event-sourced product catalog with versioned, never-stale caches. Errors are {error: {code, message, details?}}.",
          },
          components: components as never,
        },
      })),
    )
    .get(SCALAR_SCRIPT_PATH, () => scalarScript(), { detail: { hide: true } })
    .state("cacheTally", metrics.tally) // for the process's heartbeat
    .use(metrics.plugin)
    .use(healthRoutes({ postgres: () => deps.store.ping(), redis: () => deps.cache.ping() }))
    .use(
      productRoutes({
        queries,
        logger: deps.logger,
        execute: createCommandExecutor({ store: deps.store, writer: deps.writer, ctx }),
        newId: ctx.newId,
        bodyLimitBytes,
      }),
    );
  if (!deps.replay) return app;
  return app.use(
    adminRoutes({
      runner: deps.replay,
      adminToken: deps.adminToken ?? null,
      bodyLimitBytes,
      logger: deps.logger,
      namespace: deps.namespace ?? "catalog",
      operator: deps.operator,
      sessionTtlMs: deps.consoleSessionTtlMs,
    }),
  );
}

export type App = ReturnType<typeof createApp>;
