// The API's write-through: after a commit, the new state goes into the API's cache namespace.
// Best effort: when Redis is away the write still succeeds, the state is remembered, and it is
// written again when Redis is back (the compare-and-set makes a late write harmless). The Kafka
// consumers and the TTL are the other two layers that repair a missed write.
import type { Logger } from "pino";
import type { ProductState } from "../catalog/product.ts";
import { entryFor } from "./cache-entry.ts";
import type { ProductCache } from "./ports.ts";

export type CacheWriter = {
  write(state: ProductState): Promise<void>;
  /** Writes what failed before; called when the cache connection is ready again. */
  retryPending(): Promise<void>;
  pendingCount(): number;
};

export function createCacheWriter(cache: ProductCache, logger: Logger, maxPending = 10_000): CacheWriter {
  // Highest state per product that could not be written; bounded so an outage cannot grow memory.
  const pending = new Map<string, ProductState>();
  let dropped = 0;

  const remember = (state: ProductState) => {
    const known = pending.get(state.id);
    if (known && known.version >= state.version) return;
    if (!known && pending.size >= maxPending) {
      dropped++;
      return;
    }
    pending.set(state.id, state);
  };

  const writer: CacheWriter = {
    async write(state) {
      try {
        await cache.put(state.id, entryFor(state));
      } catch (err) {
        remember(state);
        logger.warn({ err, productId: state.id, version: state.version }, "cache write-through failed; will retry");
      }
    },
    async retryPending() {
      if (pending.size === 0) return;
      const batch = [...pending.values()];
      pending.clear();
      try {
        await cache.putMany(batch.map((s) => ({ id: s.id, entry: entryFor(s) })));
        logger.info({ repaired: batch.length, dropped }, "cache write-through repaired after reconnect");
        dropped = 0;
      } catch (err) {
        for (const s of batch) remember(s);
        logger.warn({ err, pending: pending.size }, "cache repair failed; will retry on next reconnect");
      }
    },
    pendingCount: () => pending.size,
  };
  cache.onReady(() => void writer.retryPending());
  return writer;
}
