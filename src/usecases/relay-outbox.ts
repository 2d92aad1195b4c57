// The relay: outbox rows → Kafka, in id order, marked sent only after the broker acknowledged
// them. A crash between publish and mark publishes the rows again; consumers ignore the
// duplicates (versions). See src/infra/outbox-store.ts for why no row is skipped or reordered.
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import type { KafkaMessage } from "../infra/kafka.ts";
import type { OutboxRow, OutboxStore } from "../infra/outbox-store.ts";

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
  publish: (messages: readonly KafkaMessage[]) => Promise<void>;
  logger: Logger;
  observe: {
    published(rows: number, seconds: number): void;
    leader(isLeader: boolean): void;
    backlog(rows: number, oldestAgeSeconds: number): void;
    error(): void;
  };
  options: RelayOptions;
};

export const toMessage = (row: OutboxRow): KafkaMessage => ({
  key: row.productId,
  value: row.payload,
  headers: { "x-outbox-id": row.id, "x-product-version": String(row.version) },
});

export function createRelay(deps: RelayDeps) {
  const { store, logger, observe, options } = deps;
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

  /** One pass: publish up to one batch. Returns how many rows went out. */
  async function pass(): Promise<number> {
    const rows = await store.fetchUnsent(options.batchSize);
    if (rows.length === 0) return 0;
    const started = performance.now();
    await deps.publish(rows.map(toMessage));
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
        if (leader !== wasLeader) {
          logger.info({ leader }, leader ? "relay is the leader" : "relay is a standby");
          observe.leader(leader);
          wasLeader = leader;
        }
        if (!leader) {
          await sleep(options.pollMs);
          continue;
        }
        const sent = await pass();
        failures = 0;
        if (sent < options.batchSize) {
          await housekeeping();
          if (sent === 0 && !stopping) await store.waitForNotify(options.pollMs);
        }
      } catch (err) {
        failures++;
        observe.error();
        logger.error({ err: (err as Error).message, failures }, "relay pass failed; retrying");
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 3000));
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
    },
    pass,
  };
}
