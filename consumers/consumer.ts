// A cache consumer process (Node 24): one service's consumer group keeping its cache namespace
// right, in rebuild or evict mode. Start: CACHE_NAMESPACE=storefront CONSUMER_MODE=evict node consumers/consumer.ts
import { createLogger } from "../src/infra/logger.ts";
import { createConsumer, createKafka, createProducer } from "../src/infra/kafka.ts";
import { Counter, Histogram, LATENCY_BUCKETS, createRegistry, serveMetrics } from "../src/infra/metrics.ts";
import { createRedisCache, createRedisClient } from "../src/infra/redis-cache.ts";
import { createEventConsumer } from "../src/usecases/consume-event.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { configOrExit, loadConsumerConfig } from "./config.ts";

const config = configOrExit(loadConsumerConfig);
const logger = createLogger(config.logLevel, { process: "consumer", namespace: config.namespace, mode: config.mode });

const registry = createRegistry({ process: "consumer", namespace: config.namespace, mode: config.mode });
const events = new Counter({
  name: "catalog_consumer_events_total",
  help: "Events by outcome: applied (the state, or in evict mode the marker, went in), applied_as_marker (rebuild mode: the key held no current data, so the version went in as a marker), skipped_older (the cache already had that version or newer), dead_lettered, fenced_unreadable (dead-lettered, but its version went in as a marker: a newer schema or an unknown type)",
  labelNames: ["outcome", "reason"],
  registers: [registry],
});
const latency = new Histogram({
  name: "catalog_commit_to_cache_seconds",
  help: "From the event's occurredAt to the cache holding it",
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
const cacheErrors = new Counter({ name: "catalog_consumer_cache_errors_total", help: "Redis writes that failed and were retried", registers: [registry] });

const redis = createRedisClient(config.redisUrl, config.commandTimeoutMs);
redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
const cache = createRedisCache(redis, config.cache);
cache.onEpochChange((epoch, previous) => logger.warn({ epoch, previous }, "the cache fence moved: Redis lost data; states go in as markers until readers fill"));
// A Kafka client whose librdkafka handle went fatal is replaced by a new one (same group and
// instance id); the uncommitted messages come again and the versions make that harmless.
let onFatal: (message: string) => void = () => {};
const kafkaFor = () => createKafka(config.brokers, `catalog-consumer-${config.namespace}`, logger, (m) => onFatal(m));
let kafka = kafkaFor();
let dlq = await createProducer(kafka);
let stopping = false;

const consume = createEventConsumer({
  cache,
  mode: config.mode,
  logger,
  stopping: () => stopping,
  deadLetter: (m, reason, detail) =>
    dlq.send(config.dlqTopic, [
      {
        key: m.key ? Buffer.from(m.key).toString() : null,
        value: m.value ? Buffer.from(m.value).toString() : "",
        headers: {
          ...m.headers,
          "x-dlq-reason": reason,
          "x-dlq-detail": detail.slice(0, 500),
          "x-dlq-source": `${m.topic}/${m.partition}/${m.offset}`,
          "x-dlq-group": config.groupId,
        },
      },
    ]),
  observe: {
    applied(seconds, outcome) {
      events.inc({ outcome: outcome === "marked" && config.mode === "rebuild" ? "applied_as_marker" : "applied", reason: "" });
      latency.observe(Math.max(0, seconds));
    },
    skippedOlder: () => events.inc({ outcome: "skipped_older", reason: "" }),
    deadLettered: (reason) => events.inc({ outcome: "dead_lettered", reason }),
    fencedUnreadable: (reason) => events.inc({ outcome: "fenced_unreadable", reason }),
    cacheError: () => cacheErrors.inc(),
  },
});

const startConsumer = () => createConsumer(kafka, { groupId: config.groupId, instanceId: config.instanceId, topic: config.topic, logger }, consume);
let consumer = await startConsumer();
let replacing = false;
onFatal = (message) => {
  if (replacing || stopping) return;
  replacing = true;
  logger.error({ message }, "kafka consumer hit a fatal error; replacing it");
  void (async () => {
    await Promise.race([Promise.all([consumer.disconnect().catch(() => {}), dlq.disconnect().catch(() => {})]), sleep(5000)]);
    for (let attempt = 1; !stopping; attempt++) {
      try {
        kafka = kafkaFor();
        dlq = await createProducer(kafka);
        consumer = await startConsumer();
        logger.info({ attempt }, "kafka consumer replaced");
        break;
      } catch (err) {
        logger.warn({ err: (err as Error).message, attempt }, "kafka consumer could not be replaced yet");
        await sleep(1000);
      }
    }
    replacing = false;
  })();
};
// A safety net for a member left without partitions (seen once after a broker restart: partitions
// revoked as lost, and no rejoin): no assignment for WATCHDOG_MS while running, and the client is
// replaced as after a fatal error. (A surplus member of a group with fewer partitions than members
// is replaced too, harmlessly: with static membership it rejoins without a rebalance.)
const WATCHDOG_MS = 60_000;
let unassignedSince: number | null = null;
const watchdog = setInterval(() => {
  if (stopping || replacing) return (unassignedSince = null);
  if (consumer.assigned() > 0) return (unassignedSince = null);
  unassignedSince ??= Date.now();
  if (Date.now() - unassignedSince >= WATCHDOG_MS) {
    unassignedSince = null;
    onFatal(`no partitions assigned for ${WATCHDOG_MS / 1000} s`);
  }
}, 5000);
watchdog.unref();
const metrics = await serveMetrics(registry, config.metricsPort, config.metricsHost);
logger.info({ group: config.groupId, topic: config.topic, metricsPort: metrics.port }, "consumer started");

async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "consumer stopping: committing offsets");
  await consumer.disconnect().catch((err: Error) => logger.warn({ err: err.message }, "consumer disconnect failed"));
  await dlq.disconnect().catch(() => {});
  await redis.quit().catch(() => {});
  metrics.server.close();
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
