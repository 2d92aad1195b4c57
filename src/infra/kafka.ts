// Kafka through @confluentinc/kafka-javascript (librdkafka). Node only: the client is a V8-API
// addon that Bun cannot load, so only the relay and the consumers import this file.
import kafkaJs from "@confluentinc/kafka-javascript";
import type { Logger } from "pino";

const { Kafka, logLevel } = kafkaJs.KafkaJS;
type KafkaClient = InstanceType<typeof Kafka>;
import type { KafkaMessage, OutboxPublisher } from "../usecases/ports.ts";
import { batchLag } from "../usecases/consumer-lag.ts";
import { replaceOnFatal } from "./kafka-replace.ts";
import { createBrokerLog, type BrokerLog } from "./broker-log.ts";
import { kafkaLogger } from "./kafka-logger.ts";
export type { KafkaMessage } from "../usecases/ports.ts";

/** How often librdkafka reports its brokers' states: how soon "kafka broker connection back" is logged. */
export const STATS_INTERVAL_MS = 5000;

/**
 * One per clientId, shared by the clients made under it: a client replaced after a fatal error (or
 * a relay's producer closed after a stuck transaction) comes back under the same clientId, and it
 * is the new one that sees the broker back, so it must close the outage the old one reported.
 */
const brokerLogs = new Map<string, BrokerLog>();

export function createKafka(brokers: string[], clientId: string, logger: Logger, onFatal?: (message: string) => void): KafkaClient {
  let brokerLog = brokerLogs.get(clientId);
  if (!brokerLog) brokerLogs.set(clientId, (brokerLog = createBrokerLog(logger.child({ layer: "kafka" }))));
  return new Kafka({
    kafkaJS: { brokers, clientId, logLevel: logLevel.WARN, logger: kafkaLogger(logger, brokerLog, onFatal) },
    // Common to every client made from this one (producer, consumer): the statistics report, only
    // for the brokers' states (no request to a broker; librdkafka builds it from what it knows).
    "statistics.interval.ms": STATS_INTERVAL_MS,
    stats_cb: (event: { message?: string } | string) => brokerLog.stats(typeof event === "string" ? event : (event?.message ?? "")),
  });
}

/**
 * Producer settings, chosen for a relay that must neither lose nor reorder nor wait:
 * - idempotent (acks=all, at most 5 in flight, sequence numbers): retries cannot duplicate or
 *   reorder a partition's messages;
 * - linger.ms=1: the relay already sends whole batches, so waiting longer to fill a batch only
 *   adds latency (librdkafka's default is 5 ms);
 * - message.timeout.ms=30000: a send waits through a broker restart, then fails and the relay
 *   retries the same rows (they stay unsent until acknowledged).
 */
export async function createProducer(kafka: KafkaClient) {
  const producer = kafka.producer({
    kafkaJS: { idempotent: true, acks: -1, allowAutoTopicCreation: false },
    "linger.ms": 1,
    "message.timeout.ms": 30_000,
    "retry.backoff.ms": 100,
  });
  await producer.connect();
  return {
    async send(topic: string, messages: readonly KafkaMessage[]) {
      await producer.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
    },
    disconnect: () => producer.disconnect(),
  };
}
export type Producer = Awaited<ReturnType<typeof createProducer>>;

/**
 * The relay's producer: transactional, so the broker fences older relays (see OutboxPublisher).
 * Its settings are those of createProducer (idempotence comes with transactions) but for the retry
 * backoff (below); one transaction per batch. `connect()` runs initTransactions, which is what fences: it aborts the transaction an
 * older producer of the same id left open, and that producer's next request fails as fenced.
 */
/** Longest a batch's transaction may take before its producer is replaced (message.timeout.ms is 30 s). */
const PUBLISH_DEADLINE_MS = 20_000;

export function createOutboxPublisher(
  newKafka: (onFatal: (message: string) => void) => KafkaClient,
  topic: string,
  transactionalId: string,
  logger: Logger,
): OutboxPublisher {
  // A producer whose handle goes fatal (fenced by a newer relay, say) is closed at once, which fails
  // the batch in flight; the next pass opens a new one only if this relay still leads.
  const producer = replaceOnFatal(
    newKafka,
    async (kafka) => {
      const p = kafka.producer({
        kafkaJS: { idempotent: true, acks: -1, allowAutoTopicCreation: false, transactionalId },
        "linger.ms": 1,
        "message.timeout.ms": 30_000,
        // A transaction begun right after a commit often meets CONCURRENT_TRANSACTIONS (the broker
        // is still writing the last one's markers) and is retried after this backoff: 100 ms put
        // ~100 ms on the tail of every such batch; 10 ms (growing to retry.backoff.max.ms, 1 s, for
        // repeated failures) keeps the p99 of a publish near 5 ms here.
        "retry.backoff.ms": 10,
      });
      try {
        await p.connect();
      } catch (err) {
        await p.disconnect().catch(() => {});
        throw err;
      }
      return p;
    },
    { what: "kafka producer", logger, reopen: "on-open" },
  );
  return {
    async open() {
      if (producer.current()) return false;
      await producer.open();
      logger.info({ transactionalId }, "transactional producer opened (older relays fenced)");
      return true;
    },
    async publish(messages: readonly KafkaMessage[]) {
      const p = producer.current();
      if (!p) throw new Error("the producer is not open");
      // A deadline over the whole transaction: across a broker restart the client was seen here
      // waiting on a send for over a minute. Past it the relay closes this producer and the next
      // pass opens a new one, whose initTransactions aborts whatever this one left open.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the transaction did not complete in ${PUBLISH_DEADLINE_MS} ms`)), PUBLISH_DEADLINE_MS);
      });
      try {
        await Promise.race([
          (async () => {
            const tx = await p.transaction();
            try {
              await tx.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
              await tx.commit();
            } catch (err) {
              await tx.abort().catch(() => {});
              throw err;
            }
          })(),
          deadline,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => producer.close(),
  };
}

export type ConsumedMessage = {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
};

/**
 * A consumer group member. Offsets: the client stores a batch's offsets only after `handle`
 * resolves, and commits stored offsets every second; a throw seeks back and the batch comes
 * again. So an offset is committed only after its message was applied (or dead-lettered).
 * maxWaitTimeInMs=100 bounds how long an idle fetch waits at the broker (data returns at once).
 * With an `instanceId` the member is static: restarted with the same id (after a crash or a
 * deploy) it gets its partitions back at once instead of after a rebalance; a member that dies
 * for good hands them over after sessionTimeout (default 30 s, KAFKA_SESSION_TIMEOUT_MS: longer than a broker restart, which with
 * 10 s was seen here to time the session out, revoke the partitions, and leave the member never
 * rejoining).
 */
export async function createConsumer(
  kafka: KafkaClient,
  opts: { groupId: string; instanceId?: string; topic: string; logger: Logger; sessionTimeoutMs?: number; onBatchLag?: (partition: number, lag: number) => void },
  handle: (batch: ConsumedMessage[]) => Promise<void>,
) {
  const consumer = kafka.consumer({
    kafkaJS: {
      groupId: opts.groupId,
      fromBeginning: true,
      autoCommit: true,
      autoCommitInterval: 1000,
      maxWaitTimeInMs: 100,
      sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: Math.min(3000, Math.floor((opts.sessionTimeoutMs ?? 30_000) / 3)),
    },
    ...(opts.instanceId ? { "group.instance.id": opts.instanceId } : {}),
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [opts.topic] });
  // One batch (of one partition) at a time; its offsets are stored when `handle` resolves. With
  // partitionsConsumedConcurrently > 1, client 1.10.1 was seen here handing one partition's
  // messages to several workers out of order (cf. upstream issue 222): the versions kept the cache
  // right, but a later offset could be stored before an earlier message of another product had
  // been applied, and a crash then would lose that message. Scale by adding group members (up to
  // one per partition) instead.
  await consumer.run({
    eachBatch: async ({ batch }) => {
      await handle(
        batch.messages.map((message) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) {
            if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
          }
          return { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key ?? null, value: message.value ?? null, headers };
        }),
      );
      // The lag the batch leaves behind, from what the fetch already brought (see batchLag).
      const last = batch.messages.at(-1);
      const lag = last ? batchLag(batch.highWatermark, last.offset) : null;
      if (lag !== null) opts.onBatchLag?.(batch.partition, lag);
    },
  });
  return {
    disconnect: () => consumer.disconnect(),
    /** The partitions of the topic assigned to this member now; null when the client cannot say. */
    partitions: (): number[] | null => {
      try {
        return consumer
          .assignment()
          .filter((tp) => tp.topic === opts.topic)
          .map((tp) => tp.partition);
      } catch {
        return null;
      }
    },
  };
}

