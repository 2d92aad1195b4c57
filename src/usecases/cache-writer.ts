// The API's write-through: after a commit, the new state goes into the API's cache namespace.
// Best effort: when Redis is away the write still succeeds and the product's version is
// remembered; once Redis answers again an invalidation marker of that version goes in (never the
// state: by then a newer version may have been written and expired, or Redis may have lost it, and
// an old state would be served; a marker is never served and only makes the next read fill from
// PostgreSQL). The Kafka consumers and the TTL are the other two layers that repair a missed write.
import type { Logger } from "pino";
import type { ProductState } from "../catalog/product.ts";
import { entryFor } from "./cache-entry.ts";
import type { ProductCache } from "./ports.ts";

export type CacheWriter = {
  /** The fence epoch to write under; learn it BEFORE the transaction (see ProductCache.epoch). */
  epoch(): string | null;
  /** After the commit: the new state, stored under the epoch learnt before the transaction. */
  write(state: ProductState, epoch: string | null): Promise<void>;
  /** Sends the markers of the write-throughs that failed (on a timer, and when Redis is ready again). */
  retryPending(): Promise<void>;
  pendingCount(): number;
  /** Stops the retry timer. */
  close(): void;
};

export type CacheWriterOptions = { maxPending?: number; retryMs?: number };

export function createCacheWriter(cache: ProductCache, logger: Logger, options: CacheWriterOptions = {}): CacheWriter {
  const maxPending = options.maxPending ?? 10_000;
  // Highest version per product whose write-through failed; bounded so an outage cannot grow memory
  // (a product dropped here is still repaired by the consumers and the TTL).
  const pending = new Map<string, number>();
  let dropped = 0;
  let retrying: Promise<void> | null = null;

  const remember = (id: string, version: number) => {
    const known = pending.get(id);
    if (known !== undefined && known >= version) return;
    if (known === undefined && pending.size >= maxPending) {
      dropped++;
      return;
    }
    pending.set(id, version);
  };
  /** The cache holds `version` (or newer) now: a remembered older version has nothing left to do. */
  const settle = (id: string, version: number) => {
    const known = pending.get(id);
    if (known !== undefined && known <= version) pending.delete(id);
  };

  async function markOrRemember(id: string, version: number) {
    try {
      await cache.mark([{ id, version }]);
      settle(id, version);
    } catch (err) {
      remember(id, version);
      logger.warn({ err: (err as Error).message, productId: id, version }, "cache write-through failed; an invalidation will follow");
    }
  }

  const writer: CacheWriter = {
    epoch: () => cache.epoch(),
    async write(state, epoch) {
      if (epoch === null) return markOrRemember(state.id, state.version); // the cache was not usable before the commit
      try {
        const result = await cache.put(state.id, entryFor(state), epoch);
        // Fenced: Redis lost data since the epoch was learnt; the state may be older than what was
        // served before that, so only its marker goes in.
        if (result.outcome === "fenced") return markOrRemember(state.id, state.version);
        settle(state.id, state.version);
      } catch (err) {
        remember(state.id, state.version);
        logger.warn({ err: (err as Error).message, productId: state.id, version: state.version }, "cache write-through failed; an invalidation will follow");
      }
    },
    retryPending() {
      if (pending.size === 0) return Promise.resolve();
      retrying ??= (async () => {
        const batch = [...pending].map(([id, version]) => ({ id, version }));
        try {
          await cache.mark(batch);
          for (const { id, version } of batch) settle(id, version);
          logger.info({ repaired: batch.length, dropped }, "failed write-throughs invalidated");
          dropped = 0;
        } catch (err) {
          logger.debug({ err: (err as Error).message, pending: pending.size }, "invalidation of failed write-throughs failed; will retry");
        } finally {
          retrying = null;
        }
      })();
      return retrying;
    },
    pendingCount: () => pending.size,
    close: () => clearInterval(timer),
  };
  // A command that only timed out brings no reconnect, so a timer retries too.
  const timer = setInterval(() => void writer.retryPending(), options.retryMs ?? 1000);
  timer.unref?.();
  cache.onReady(() => void writer.retryPending());
  return writer;
}
