// The api process: config → adapters → createApp(deps).listen(). On SIGTERM it drains the requests
// in flight (src/process.ts runs the stop and the exit).
import { createApp, serverLimits } from "./app.ts";
import { loadConfig } from "./config.ts";
import { startHeartbeat } from "./infra/heartbeat.ts";
import { createOperatorSources } from "./infra/operator-sources.ts";
import { createPrismaClient, createPrismaEventStore } from "./infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient } from "./infra/redis-cache.ts";
import { withRedisNearCache } from "./infra/redis-change-feed.ts";
import { createRedisJobStore } from "./infra/redis-jobs.ts";
import { runProcess } from "./process.ts";
import { createCacheWriter } from "./usecases/cache-writer.ts";
import { createReplayRunner } from "./usecases/replay-jobs.ts";

await runProcess({
  name: "api",
  usage: "usage: bun src/main.ts   (bun run dev)\nThe catalog api: HTTP commands and queries, the admin routes and the console, on HOST:PORT (127.0.0.1:3000).",
  loadConfig,
  async start(config, logger) {
    const prisma = createPrismaClient(config.databaseUrl);
    const redis = createRedisClient(config, config.cache.commandTimeoutMs);
    redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
    const cacheFor = (namespace: string) => createRedisCache(redis, { ...config.cache, namespace });
    // Reads and the write-through go through the near cache (L1_ENABLED); replays write Redis itself.
    const near = withRedisNearCache(redis, cacheFor(config.cache.namespace), { ...config.cache, l1: config.l1 });
    const cache = near.cache;
    cache.onEpochChange((epoch, previous) =>
      logger.warn({ namespace: config.cache.namespace, epoch, previous }, "the cache fence moved: Redis lost data; entries written before are no longer served"),
    );
    // Serve once the fence is verified (a few ms); without Redis the api starts anyway and reads PostgreSQL.
    if (!(await cache.whenReady(2000))) logger.warn("the cache is not usable yet (Redis unreachable or its fence not verified); reading PostgreSQL until it is");
    const store = createPrismaEventStore(prisma);
    const writer = config.cache.writeThrough ? createCacheWriter(cache, logger.child({ layer: "write-through" })) : null;
    const replay = createReplayRunner({
      source: store,
      cacheFor,
      jobs: createRedisJobStore(redis, config.cache.keyPrefix),
      logger: logger.child({ layer: "replay" }),
      defaultNamespace: config.cache.namespace,
    });
    if (config.adminToken === null) logger.warn("ADMIN_TOKEN is not set: the admin routes are open (development only)");

    const app = createApp({
      store,
      cache,
      writer,
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      replay,
      adminToken: config.adminToken,
      lease: config.lease,
      negativeCache: config.cache.negativeTtlSeconds > 0,
      namespace: config.cache.namespace,
      consoleSessionTtlMs: config.console.sessionTtlMs,
      operator: createOperatorSources({
        redis,
        prefix: config.cache.keyPrefix,
        prisma,
        store,
        namespaces: [config.cache.namespace, ...config.console.namespaces],
        heartbeatIntervalMs: config.heartbeatIntervalMs,
      }),
    }).listen({
      hostname: config.host,
      port: config.port,
      ...serverLimits(config.bodyLimitBytes),
    });
    const heartbeat = startHeartbeat({
      redis,
      prefix: config.cache.keyPrefix,
      role: "api",
      namespace: config.cache.namespace,
      intervalMs: config.heartbeatIntervalMs,
      logger,
      fields: () => ({ cache: { ...app.store.cacheTally } }),
    });
    logger.info({ url: `http://${config.host}:${app.server?.port}`, env: config.env, namespace: config.cache.namespace }, "api listening");

    return {
      stopping: "draining requests",
      async stop() {
        await heartbeat.stop();
        await app.stop(); // waits for in-flight requests
        await near.close();
        await Promise.allSettled([redis.quit(), prisma.$disconnect()]);
      },
    };
  },
});
