// createApp(deps): the HTTP application, built from its dependencies so tests can drive it
// in-process with `app.handle(request)`. Production wiring lives in main.ts only.
import { Elysia } from "elysia";
import type { Logger } from "pino";
import type { DecideContext } from "./catalog/decide.ts";
import { mapError } from "./http/errors.ts";
import { healthRoutes } from "./http/health.ts";
import { productRoutes } from "./http/products.ts";
import type { CacheWriter } from "./usecases/cache-writer.ts";
import { createCommandExecutor } from "./usecases/commands.ts";
import type { EventStore, ProductCache } from "./usecases/ports.ts";
import { createQueries } from "./usecases/queries.ts";

export type AppDeps = {
  store: EventStore;
  cache: ProductCache;
  /** null switches the write-through off: only the fill and the consumers write the cache. */
  writer: CacheWriter | null;
  logger: Logger;
  ctx?: DecideContext;
  bodyLimitBytes?: number;
};

export const defaultContext: DecideContext = { now: () => new Date(), newId: () => crypto.randomUUID() };

export function createApp(deps: AppDeps) {
  const ctx = deps.ctx ?? defaultContext;
  const queries = createQueries(deps);
  return (
    // normalize: false, so unknown fields are refused rather than silently dropped.
    new Elysia({ normalize: false })
      .onError(mapError(deps.logger))
      .use(healthRoutes({ postgres: () => deps.store.ping(), redis: () => deps.cache.ping() }))
      .use(
        productRoutes({
          queries,
          execute: createCommandExecutor({ store: deps.store, writer: deps.writer, ctx }),
          newId: ctx.newId,
          bodyLimitBytes: deps.bodyLimitBytes ?? 64 * 1024,
        }),
      )
  );
}

export type App = ReturnType<typeof createApp>;
