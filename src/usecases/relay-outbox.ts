// The relay: outbox rows → Kafka, in id order, marked sent only after the broker acknowledged
// them. A crash between publish and mark publishes the rows again; consumers ignore the
// duplicates (versions). See src/infra/outbox-store.ts for why no row is skipped or reordered.
//
// Two relays never interleave one product's events on the topic: only the holder of the outbox
// lock reads rows (checked in the same statement), and its producer is transactional with the
// id every relay shares. Opening a producer fences every one opened before it (the broker aborts
// their open transaction and refuses their next), and a relay that opened one checks that it still
// holds the lock before it publishes. So batches become visible in the order of the leaders'
// tenures, and a leader that lost its lock mid-publish (its session killed, say) has its batch
// aborted instead of landing after its successor's.
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import { NotLeaderError, type KafkaMessage, type OutboxPublisher, type OutboxRow, type OutboxStore } from "./ports.ts";

export type RelayOptions = {
  batchSize: number;
  /** Fallback poll when no NOTIFY arrives; also how often a standby tries to take over. */
  pollMs: number;
  /** Sent rows older than this are deleted. */
  retentionSeconds: number;
  /** Test hook between publish and mark (fault injection). */
  afterPublish?: (rows: readonly OutboxRow[]) => void;
};

export type RelayDeps = {
  store: OutboxStore;
  publisher: OutboxPublisher;
  logger: Logger;
  observe: {
    published(rows: number, seconds: number): void;
    leader(isLeader: boolean): void;
    backlog(rows: number, oldestAgeSeconds: number): void;
    error(): void;
  };
  options: RelayOptions;
  /** The pauses (a standby's poll, the backoff after a failure); tests pass their own. */
  sleep?: (ms: number) => Promise<void>;
};

export const toMessage = (row: OutboxRow): KafkaMessage => ({
  key: row.productId,
  value: row.payload,
  headers: { "x-outbox-id": row.id, "x-product-version": String(row.version) },
});

export function createRelay(deps: RelayDeps) {
  const { store, publisher, logger, observe, options } = deps;
  const pause = deps.sleep ?? ((ms: number) => sleep(ms));
  let stopping = false;
  let lastHousekeeping = 0;
  let wasLeader: boolean | null = null; // logs the first state too

  async function housekeeping() {
    if (Date.now() - lastHousekeeping < 5000) return;
    lastHousekeeping = Date.now();
    const { rows, oldestAgeSeconds } = await store.backlog();
    observe.backlog(rows, oldestAgeSeconds);
    const purged = await store.purgeSent(options.retentionSeconds, 10_000);
    if (purged > 0) logger.debug({ purged }, "purged sent outbox rows");
  }

  const leadership = async (leader: boolean) => {
    if (leader === wasLeader) return;
    logger.info({ leader }, leader ? "relay is the leader" : "relay is a standby");
    observe.leader(leader);
    wasLeader = leader;
    if (!leader) await publisher.close();
  };

  /** One pass: publish up to one batch. Returns how many rows went out. */
  async function pass(): Promise<number> {
    const rows = await store.fetchUnsent(options.batchSize); // NotLeaderError unless this session holds the lock
    if (rows.length === 0) return 0;
    const started = performance.now();
    // A new producer fenced every older one, a successor's included: publish only if still the leader.
    if (await publisher.open()) await store.assertLeading();
    try {
      await publisher.publish(rows.map(toMessage));
    } catch (err) {
      await publisher.close(); // aborted, maybe fenced: the next pass opens a new producer if it still leads
      throw err;
    }
    options.afterPublish?.(rows);
    await store.markSent(rows.map((r) => r.id));
    observe.published(rows.length, (performance.now() - started) / 1000);
    logger.debug({ first: rows[0]!.id, last: rows.at(-1)!.id, rows: rows.length, ms: Math.round(performance.now() - started) }, "published");
    return rows.length;
  }

  async function run() {
    let failures = 0;
    while (!stopping) {
      try {
        const leader = await store.tryLead();
        await leadership(leader);
        if (!leader) {
          await pause(options.pollMs);
          continue;
        }
        const sent = await pass();
        failures = 0;
        if (sent < options.batchSize) {
          await housekeeping();
          if (sent === 0 && !stopping) await store.waitForNotify(options.pollMs);
        }
      } catch (err) {
        if (err instanceof NotLeaderError) {
          logger.warn({ err: err.message }, "relay lost the outbox lock");
          await leadership(false).catch(() => {});
          continue;
        }
        failures++;
        observe.error();
        logger.error({ err: (err as Error).message, failures }, "relay pass failed; retrying");
        await pause(Math.min(100 * 2 ** Math.min(failures, 5), 3000));
      }
    }
  }

  let loop: Promise<void> | null = null;
  return {
    start() {
      loop ??= run();
      return loop;
    },
    /** Finishes the batch in flight (publish and mark), then returns. */
    async stop() {
      stopping = true;
      store.wakeUp();
      await loop;
      await publisher.close();
    },
    pass,
  };
}
