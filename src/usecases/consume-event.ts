// One consumed message: decode, apply to this service's cache namespace, or dead-letter it.
// Redis failures are retried here (with backoff) rather than skipped: the offset must not move
// past an event the cache does not hold. Poison never blocks: it goes to the dead-letter topic.
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeEvent, entryForEvent, type ConsumerMode, type PoisonReason } from "./decode-event.ts";
import type { ProductCache } from "./ports.ts";

export type RawMessage = { topic: string; partition: number; offset: string; key: Uint8Array | null; value: Uint8Array | null; headers: Record<string, string> };

export type ConsumeDeps = {
  cache: ProductCache;
  mode: ConsumerMode;
  deadLetter: (message: RawMessage, reason: PoisonReason, detail: string) => Promise<void>;
  logger: Logger;
  observe: {
    applied(latencySeconds: number): void;
    skippedOlder(): void;
    deadLettered(reason: PoisonReason): void;
    cacheError(): void;
  };
  /** True once shutdown began: stop retrying, let the message come again after restart. */
  stopping: () => boolean;
  now?: () => number;
};

export class ShuttingDown extends Error {}

export function createEventConsumer(deps: ConsumeDeps) {
  const now = deps.now ?? Date.now;
  return async function consume(message: RawMessage): Promise<void> {
    const decoded = decodeEvent(message.key, message.value);
    if (!decoded.ok) {
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
      return;
    }
    const { envelope } = decoded;
    const entry = entryForEvent(envelope, deps.mode);
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await deps.cache.put(envelope.productId, entry);
        if (result.applied) deps.observe.applied((now() - Date.parse(envelope.occurredAt)) / 1000);
        else deps.observe.skippedOlder();
        return;
      } catch (err) {
        deps.observe.cacheError();
        if (deps.stopping()) throw new ShuttingDown("stopping before the cache took the event");
        if (attempt === 1 || attempt % 20 === 0) {
          deps.logger.warn({ err: (err as Error).message, productId: envelope.productId, version: envelope.version, attempt }, "cache write failed; retrying");
        }
        await sleep(Math.min(50 * attempt, 1000));
      }
    }
  };
}
