// The recommended way for a TypeScript service to read its namespace: the storefront's own read
// path (storefront/main.ts), reused. createQueries serves hits, and on a miss or a marker reads the
// catalog api (?minVersion=N for a marker of version N) and fills through the compare-and-set
// script, behind a fill lease. docs/CLIENTS.md quotes this file; test/integration/client-examples.test.ts runs it.
import pino from "pino";
import { CatalogError } from "../../src/catalog/errors.ts";
import { createCatalogSource } from "../../src/infra/catalog-client.ts";
import { createRedisCache, createRedisClient } from "../../src/infra/redis-cache.ts";
import { ServiceUnavailableError } from "../../src/usecases/ports.ts";
import { createQueries, type Queries } from "../../src/usecases/queries.ts";

export type ReaderOptions = {
  redisUrl: string;
  redisClusterNodes?: string[]; // "host:port" seeds: the bucketed Cluster layout
  keyPrefix: string; // CACHE_KEY_PREFIX, the same as the namespace's consumer
  namespace: string; // your service's namespace, kept by its evict consumer
  catalogUrl: string; // the catalog api
};

export function createProductReader(o: ReaderOptions) {
  const redis = createRedisClient({ redisUrl: o.redisUrl, redisClusterNodes: o.redisClusterNodes }, 250);
  const cache = createRedisCache(redis, { keyPrefix: o.keyPrefix, namespace: o.namespace, ttlSeconds: 3600 });
  const queries = createQueries({
    store: createCatalogSource({ baseUrl: o.catalogUrl, timeoutMs: 2000 }),
    cache,
    logger: pino({ level: "warn" }),
    lease: { leaseMs: 2000, waitMs: 200 }, // one filler per key across your instances
  });
  return { queries, cache, close: () => redis.quit() };
}

/**
 * GET /products/:id of your service, answered as the catalog answers it. (An Elysia app mounts
 * productReadRoutes(queries, logger) from src/http/products.ts instead, as storefront/app.ts does.)
 */
export async function serveProduct(queries: Queries, id: string, minVersion?: number): Promise<Response> {
  try {
    const read = await queries.getProduct(id, minVersion);
    if (!read.found) return Response.json({ error: { code: "NOT_FOUND", message: `product ${id} not found` } }, { status: 404 }); // t or n
    return new Response(read.json, { headers: { "content-type": "application/json", etag: `"${read.version}"`, "x-cache": read.cache } });
  } catch (err) {
    // 412 VERSION_NOT_REACHED: the catalog is below your client's minVersion (details.currentVersion).
    if (err instanceof CatalogError) return Response.json({ error: { code: err.code, message: err.message, details: err.details } }, { status: err.status });
    // The catalog api is down or behind an invalidation: never the old data.
    if (err instanceof ServiceUnavailableError) return Response.json({ error: { code: "UNAVAILABLE", message: err.message } }, { status: 503, headers: { "retry-after": "1" } });
    throw err;
  }
}
