// The storefront process (Bun): config → its Redis namespace and the catalog api as its source →
// createStorefrontApp(deps).listen(). Its evict consumer (consumers/consumer.ts with
// CACHE_NAMESPACE=storefront CONSUMER_MODE=evict) keeps the namespace right.
import { serverLimits } from "../src/app.ts";
import { loadStorefrontConfig } from "../src/config.ts";
import { createCatalogSource } from "../src/infra/catalog-client.ts";
import { startHeartbeat } from "../src/infra/heartbeat.ts";
import { createRedisCache, createRedisClient } from "../src/infra/redis-cache.ts";
import { withRedisNearCache } from "../src/infra/redis-change-feed.ts";
import { runProcess } from "../src/process.ts";
import { createStorefrontApp } from "./app.ts";

await runProcess({
  name: "storefront",
  usage: "usage: CATALOG_URL=http://127.0.0.1:3000 bun storefront/main.ts\nThe storefront service: serves products from its own cache namespace and reads the catalog api on a miss.",
  loadConfig: loadStorefrontConfig,
  async start(config, logger) {
    const redis = createRedisClient(config, config.cache.commandTimeoutMs);
    redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
    const near = withRedisNearCache(redis, createRedisCache(redis, config.cache), { ...config.cache, l1: config.l1 });
    const cache = near.cache;
    cache.onEpochChange((epoch, previous) => logger.warn({ namespace: config.cache.namespace, epoch, previous }, "the cache fence moved: Redis lost data"));
    if (!(await cache.whenReady(2000))) logger.warn("the cache is not usable yet; reading the catalog api until it is");
    const app = createStorefrontApp({
      catalog: createCatalogSource({ baseUrl: config.catalogUrl, timeoutMs: config.catalogTimeoutMs }),
      cache,
      logger,
      lease: config.lease,
    }).listen({ hostname: config.host, port: config.port, ...serverLimits(64 * 1024) });
    const heartbeat = startHeartbeat({
      redis,
      prefix: config.cache.keyPrefix,
      role: "storefront",
      namespace: config.cache.namespace,
      intervalMs: config.heartbeatIntervalMs,
      logger,
      fields: () => ({ cache: { ...app.store.cacheTally } }),
    });
    logger.info({ url: `http://${config.host}:${app.server?.port}`, catalog: config.catalogUrl, namespace: config.cache.namespace }, "storefront listening");
    return {
      stopping: "draining requests",
      async stop() {
        await heartbeat.stop();
        await app.stop();
        await near.close();
        await redis.quit().catch(() => {});
      },
    };
  },
});
