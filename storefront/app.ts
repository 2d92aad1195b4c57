// The storefront: a second service that serves products from its own cache namespace
// ("storefront"), which its evict consumer keeps right with versioned markers. A miss (or a
// marker of version N) reads the catalog api, with ?minVersion=N, and fills the namespace through
// the same compare-and-set as the catalog's own fills, so a late fill never overwrites newer data
// and nothing older than an invalidation is served. Its stampede protection is its own: one read
// per key in this process, and a lease across its instances.
import { Elysia } from "elysia";
import type { Logger } from "pino";
import { mapError } from "../src/http/errors.ts";
import { healthRoutes } from "../src/http/health.ts";
import { createApiMetrics } from "../src/http/metrics.ts";
import { productReadRoutes } from "../src/http/products.ts";
import type { NearCacheStats } from "../src/usecases/near-cache.ts";
import type { ProductCache, ProductSource } from "../src/usecases/ports.ts";
import { createQueries, type QueryDeps } from "../src/usecases/queries.ts";

export type StorefrontDeps = {
  catalog: ProductSource;
  cache: ProductCache;
  logger: Logger;
  lease?: QueryDeps["lease"];
};

export function createStorefrontApp(deps: StorefrontDeps) {
  // The api's read-path metrics (requests, cache events, L1, fallbacks) at GET /metrics, labelled process="storefront".
  const metrics = createApiMetrics({ process: "storefront", nearCache: () => (deps.cache as { stats?: () => NearCacheStats }).stats?.() ?? null });
  deps.cache.onEpochChange(() => metrics.fenceMoved());
  const queries = createQueries({ store: deps.catalog, cache: deps.cache, logger: deps.logger, lease: deps.lease, observe: metrics.observer });
  return new Elysia({ normalize: false })
    .onError(mapError(deps.logger))
    .state("cacheTally", metrics.tally) // for the process's heartbeat
    .use(metrics.plugin)
    .use(healthRoutes({ catalog: () => deps.catalog.ping(), redis: () => deps.cache.ping() }))
    .use(productReadRoutes(queries, deps.logger));
}
