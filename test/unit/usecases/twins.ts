// Wiring of the in-memory twins for the use-case tests: one database, one cache server, and
// helpers to wait for a condition (never for time).
import pino from "pino";
import { createMemoryCache, createMemoryCacheServer } from "../../../src/infra/memory/memory-cache.ts";
import { createMemoryDatabase, createMemoryEventStore } from "../../../src/infra/memory/memory-database.ts";
import type { EventStore, ProductCache } from "../../../src/usecases/ports.ts";

export const logger = pino({ level: "silent" });

export function twins() {
  const db = createMemoryDatabase();
  const server = createMemoryCacheServer();
  return {
    db,
    server,
    store: createMemoryEventStore(db),
    cache: (namespace = "catalog"): ProductCache => createMemoryCache(server, { namespace, ttlSeconds: 600 }),
  };
}

/** An event store that counts its calls (loadState, loadStates, append), passing them through. */
export function counting(store: EventStore) {
  const calls = { loadState: 0, loadStates: 0, append: 0 };
  const wrapped: EventStore = {
    ...store,
    loadState: (id) => (calls.loadState++, store.loadState(id)),
    loadStates: (ids) => (calls.loadStates++, store.loadStates(ids)),
    append: (e, n, env) => (calls.append++, store.append(e, n, env)),
  };
  return { store: wrapped, calls };
}

/** Resolves once `cond` holds, checking after every turn of the event loop; fails after 5 s. */
export async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

export const fields = (priceCents = 100) => ({ name: "Kettle", description: "", priceCents, currency: "EUR" });
export const ctx = { now: () => new Date("2026-11-29T00:00:00Z"), newId: () => crypto.randomUUID() };
