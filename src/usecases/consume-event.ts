// Consumed messages: decode, apply to this service's cache namespace, or dead-letter them.
// Redis failures are retried here (with backoff) rather than skipped: the offset must not move
// past an event the cache does not hold. Poison never blocks: it goes to the dead-letter topic.
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import type { EventEnvelope } from "../catalog/events.ts";
import { decodeEvent, entryForEvent, type ConsumerMode, type PoisonReason } from "./decode-event.ts";
import type { CacheEntry, ProductCache } from "./ports.ts";

export type RawMessage = { topic: string; partition: number; offset: string; key: Uint8Array | null; value: Uint8Array | null; headers: Record<string, string> };

export type ConsumeDeps = {
  cache: ProductCache;
  mode: ConsumerMode;
  deadLetter: (message: RawMessage, reason: PoisonReason, detail: string) => Promise<void>;
  logger: Logger;
  observe: {
    /** Redis took the event: as the state ("stored"), or as a marker of its version ("marked"). */
    applied(latencySeconds: number, outcome: "stored" | "marked"): void;
    skippedOlder(): void;
    deadLettered(reason: PoisonReason): void;
    /** An event it cannot read (newer schema, unknown type) fenced the cache with a marker of its version. */
    fencedUnreadable(reason: PoisonReason): void;
    cacheError(): void;
  };
  /** True once shutdown began: stop retrying, let the message come again after restart. */
  stopping: () => boolean;
  now?: () => number;
  /** The pause before a retry; tests pass their own. */
  sleep?: (ms: number) => Promise<void>;
};

export class ShuttingDown extends Error {}

/**
 * Returns the handler of a batch of one partition's messages. Good events are written in one
 * pipelined round of compare-and-set calls, sent in offset order on one connection, so Redis
 * applies them in order; a failure retries the whole round (repeats are no-ops by version).
 *
 * rebuild mode advances real entries of the current fence epoch with the event's state; where the
 * key is empty, holds a marker or an entry from before a loss of Redis data, the event may be older
 * than the truth (a backlog, a redelivery, a new group reading from the start), so its version goes
 * in as a marker and the next read fills from PostgreSQL. evict mode writes markers only.
 */
export function createEventConsumer(deps: ConsumeDeps) {
  const now = deps.now ?? Date.now;
  const pause = deps.sleep ?? ((ms: number) => sleep(ms));
  return async function consumeBatch(messages: readonly RawMessage[]): Promise<void> {
    const good: { envelope: EventEnvelope; entry: CacheEntry }[] = [];
    const unreadable: { id: string; version: number; reason: PoisonReason }[] = [];
    for (const message of messages) {
      const decoded = decodeEvent(message.key, message.value);
      if (decoded.ok) {
        good.push({ envelope: decoded.envelope, entry: entryForEvent(decoded.envelope, deps.mode) });
        continue;
      }
      deps.logger.warn(
        {
          reason: decoded.reason,
          detail: decoded.detail,
          key: message.key ? new TextDecoder().decode(message.key).slice(0, 64) : null,
          partition: message.partition,
          offset: message.offset,
        },
        "poison message sent to the dead-letter topic",
      );
      await deps.deadLetter(message, decoded.reason, decoded.detail);
      deps.observe.deadLettered(decoded.reason);
      // Still a fence: whatever this version says, nothing older may be served once it exists.
      if (decoded.fence) unreadable.push({ id: decoded.fence.productId, version: decoded.fence.version, reason: decoded.reason });
    }
    if (good.length === 0 && unreadable.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const [results] = await Promise.all([
          good.length === 0
            ? []
            : deps.mode === "evict"
              ? deps.cache.mark(good.map((g) => ({ id: g.envelope.productId, version: g.envelope.version })))
              : deps.cache.advance(good.map((g) => ({ id: g.envelope.productId, entry: g.entry }))),
          unreadable.length ? deps.cache.mark(unreadable) : [],
        ]);
        for (const u of unreadable) deps.observe.fencedUnreadable(u.reason);
        const at = now();
        results.forEach((r, i) => {
          if (r.applied) deps.observe.applied((at - Date.parse(good[i]!.envelope.occurredAt)) / 1000, r.outcome === "marked" ? "marked" : "stored");
          else deps.observe.skippedOlder();
        });
        return;
      } catch (err) {
        deps.observe.cacheError();
        if (deps.stopping()) throw new ShuttingDown("stopping before the cache took the events");
        if (attempt === 1 || attempt % 20 === 0) {
          // A batch may hold only unreadable events (their markers are what failed).
          const first = good[0] ? { productId: good[0].envelope.productId, version: good[0].envelope.version } : { productId: unreadable[0]!.id, version: unreadable[0]!.version };
          deps.logger.warn({ err: (err as Error).message, ...first, events: good.length + unreadable.length, attempt }, "cache write failed; retrying");
        }
        await pause(Math.min(50 * attempt, 1000));
      }
    }
  };
}
