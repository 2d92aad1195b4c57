// What the two peer servers of bench/peers.ts share: an Elysia app on Bun with the product route
// of the catalog api (GET and PATCH /products/:id, GET /healthz), over the same PostgreSQL rows.
// Only the cache differs (bentocache.ts, cache-manager.ts). A miss reads the snapshot row through
// the project's own event store (`loadState`, one primary-key lookup on product_snapshots, as the
// api does on a miss); a write is the project's own command (`createCommandExecutor` over the same
// event store, write-through off: the same transaction as the api's, event + snapshot + outbox
// row), then the peer's invalidation. Both serve the api's JSON for a product (`toView`).
//
// Environment: DATABASE_URL, REDIS_URL, PEER_PREFIX (the peer's Redis key prefix), PORT (0: any).
// Prints one JSON line {"msg":"peer listening","url":...} once it listens.
import { Elysia } from "elysia";
import { CatalogError } from "../../src/catalog/errors.ts";
import type { FieldChanges } from "../../src/catalog/events.ts";
import { toView } from "../../src/catalog/product.ts";
import { createPrismaClient, createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createCommandExecutor } from "../../src/usecases/commands.ts";

export type PeerCache = {
  /** The product's JSON from the cache, or from `load` on a miss (then cached). */
  read(id: string, load: () => Promise<string | null>): Promise<string | null>;
  /** After a committed write: the peer's invalidation of `id`. */
  invalidate(id: string): Promise<void>;
  close(): Promise<void>;
};

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

export async function servePeer(name: string, cache: PeerCache) {
  const prisma = createPrismaClient(env("DATABASE_URL"));
  const store = createPrismaEventStore(prisma);
  const execute = createCommandExecutor({ store, writer: null, ctx: { now: () => new Date(), newId: () => crypto.randomUUID() } });
  // Counters for the benchmark: reads that ran the loader (misses) and all reads.
  const stats = { reads: 0, misses: 0, writes: 0 };

  const app = new Elysia()
    .onError(({ error }) => {
      if (error instanceof CatalogError) return new Response(JSON.stringify({ error: { code: error.code, message: error.message } }), { status: error.status, headers: JSON_HEADERS });
    })
    .get("/healthz", () => ({ status: "ok" }))
    .get("/_stats", () => stats)
    .get("/products/:id", async ({ params }) => {
      stats.reads++;
      let miss = false;
      const json = await cache.read(params.id, async () => {
        miss = true;
        stats.misses++;
        const state = await store.loadState(params.id);
        return state && !state.deleted ? JSON.stringify(toView(state)) : null;
      });
      const xCache = miss ? "miss" : "hit";
      if (json === null) return new Response(JSON.stringify({ error: { code: "NOT_FOUND", message: `no product ${params.id}` } }), { status: 404, headers: { ...JSON_HEADERS, "x-cache": xCache } });
      return new Response(json, { headers: { ...JSON_HEADERS, "x-cache": xCache } });
    })
    .patch("/products/:id", async ({ params, body }) => {
      const { state, changed } = await execute({ type: "PatchProduct", id: params.id, changes: body as FieldChanges });
      if (changed) await cache.invalidate(params.id);
      stats.writes++;
      return new Response(JSON.stringify(toView(state)), { headers: { ...JSON_HEADERS, etag: `"${state.version}"` } });
    })
    .listen({ hostname: "127.0.0.1", port: Number(process.env.PORT ?? 0) });

  console.log(JSON.stringify({ msg: "peer listening", name, url: `http://127.0.0.1:${app.server!.port}` }));
  const stop = async () => {
    await app.stop();
    await cache.close().catch(() => {});
    await prisma.$disconnect().catch(() => {});
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
