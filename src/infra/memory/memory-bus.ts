// The in-memory twin of the event topic and of the relay's transactional producer. Publishing is
// all-or-nothing per call, as a Kafka transaction is; opening a producer fences every producer of
// the same transactional id opened before it (its later publishes fail), as the broker does.
// Messages are kept per partition in order; a test reads them, or consumes them through
// `messagesAfter`.
import type { KafkaMessage, OutboxPublisher } from "../../usecases/ports.ts";

export class FencedProducerError extends Error {
  constructor() {
    super("a newer producer with the same transactional id was opened: this one is fenced");
    this.name = "FencedProducerError";
  }
}

export type MemoryBus = {
  /** Every committed message, in the order of the commits. */
  readonly log: KafkaMessage[];
  /** Makes the next `n` publishes fail (a broker away), without committing anything. */
  failNext(n: number): void;
  /** Resolves when the log holds at least `count` messages. */
  untilCount(count: number): Promise<void>;
  publisher(transactionalId?: string): OutboxPublisher & { readonly opened: boolean };
};

export function createMemoryBus(): MemoryBus {
  const log: KafkaMessage[] = [];
  const generation = new Map<string, number>();
  let failures = 0;
  const waiting: { count: number; resolve: () => void }[] = [];
  const wakeWaiters = () => {
    for (const w of [...waiting]) {
      if (log.length >= w.count) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  return {
    log,
    failNext(n) {
      failures += n;
    },
    untilCount(count) {
      if (log.length >= count) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ count, resolve }));
    },
    publisher(transactionalId = "relay") {
      let mine: number | null = null;
      return {
        get opened() {
          return mine !== null;
        },
        async open() {
          if (mine !== null) return false;
          mine = (generation.get(transactionalId) ?? 0) + 1;
          generation.set(transactionalId, mine);
          return true;
        },
        async publish(messages) {
          if (mine === null) throw new Error("the producer is not open");
          if (generation.get(transactionalId) !== mine) throw new FencedProducerError();
          if (failures > 0) {
            failures--;
            throw new Error("the broker did not acknowledge the transaction");
          }
          log.push(...messages.map((m) => structuredClone(m)));
          wakeWaiters();
        },
        async close() {
          mine = null;
        },
      };
    },
  };
}
