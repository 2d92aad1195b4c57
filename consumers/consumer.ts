// A cache consumer process (Node 24): one service's consumer group keeping its cache namespace
// right, in rebuild or evict mode. Start: CACHE_NAMESPACE=storefront CONSUMER_MODE=evict node consumers/consumer.ts
// On SIGTERM it stops consuming, commits its offsets and disconnects.
import { loadConsumerConfig } from "../src/config.ts";
import { markDeadLetterView, recordDeadLetter } from "../src/infra/dead-letters.ts";
import { startHeartbeat } from "../src/infra/heartbeat.ts";
import { createConsumer, createKafka, createProducer } from "../src/infra/kafka.ts";
import { replaceOnFatal } from "../src/infra/kafka-replace.ts";
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, createRegistry, serveMetrics } from "../src/infra/metrics.ts";
import { createRedisCache, createRedisClient } from "../src/infra/redis-cache.ts";
import { runProcess } from "../src/process.ts";
import { createEventConsumer } from "../src/usecases/consume-event.ts";
import { lagSummary, pruneLags } from "../src/usecases/consumer-lag.ts";
import { recentQuantile } from "../src/usecases/recent-quantile.ts";

/**
 * A safety net for a member left without partitions (seen once after a broker restart: partitions
 * revoked as lost, and no rejoin): no assignment for this long while running, and the client is
 * replaced as after a fatal error. (A surplus member of a group with fewer partitions than members
 * is replaced too, harmlessly: with static membership it rejoins without a rebalance.)
 */
const WATCHDOG_MS = 60_000;

await runProcess({
  name: "consumer",
  usage: "usage: CACHE_NAMESPACE=catalog CONSUMER_MODE=rebuild node consumers/consumer.ts   (Node 24)\nA cache consumer: one service's consumer group keeping its namespace right (rebuild or evict mode).",
  loadConfig: loadConsumerConfig,
  logFields: (config) => ({ namespace: config.namespace, mode: config.mode }),
  async start(config, logger) {
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
    const lagGauge = new Gauge({
      name: "catalog_consumer_lag_messages",
      help: "Messages of the topic after what this member consumed, per partition it consumed: the high watermark minus the offset after its latest batch (1 when only a transaction's commit marker is left)",
      labelNames: ["partition"],
      registers: [registry],
    });
    const lastApplied = new Gauge({
      name: "catalog_consumer_last_applied_timestamp_seconds",
      help: "Unix time when this consumer last applied an event to its cache (0: not yet)",
      registers: [registry],
    });
    let lastAppliedAt: number | null = null;
    const recentLatency = recentQuantile(1024); // the heartbeat's commit-to-cache p99

    const redis = createRedisClient(config, config.commandTimeoutMs);
    redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
    const cache = createRedisCache(redis, config.cache);
    cache.onEpochChange((epoch, previous) => logger.warn({ epoch, previous }, "the cache fence moved: Redis lost data; states go in as markers until readers fill"));

    let stopping = false;
    const consume = createEventConsumer({
      cache,
      mode: config.mode,
      logger,
      stopping: () => stopping,
      deadLetter: async (m, reason, detail) => {
        const dlq = kafka.current()?.dlq;
        if (!dlq) throw new Error("the Kafka client is being replaced"); // the batch comes again
        await dlq.send(config.dlqTopic, [
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
        ]);
        // For the console; the topic holds the letter already, so a failure here only costs the view.
        await recordDeadLetter(redis, config.cache.keyPrefix, {
          at: new Date().toISOString(),
          group: config.groupId,
          namespace: config.namespace,
          reason,
          detail: detail.slice(0, 500),
          source: `${m.topic}/${m.partition}/${m.offset}`,
          topic: config.dlqTopic,
          key: m.key ? Buffer.from(m.key).toString() : null,
          value: m.value ? Buffer.from(m.value).toString() : "",
        }).catch((err: Error) => logger.warn({ err: err.message }, "dead letter not recorded in Redis (it is in the topic)"));
      },
      observe: {
        applied(seconds, outcome) {
          lastAppliedAt = Date.now();
          lastApplied.set(lastAppliedAt / 1000);
          events.inc({ outcome: outcome === "marked" && config.mode === "rebuild" ? "applied_as_marker" : "applied", reason: "" });
          latency.observe(Math.max(0, seconds));
          recentLatency.add(Math.max(0, seconds) * 1000);
        },
        skippedOlder: () => events.inc({ outcome: "skipped_older", reason: "" }),
        deadLettered: (reason) => events.inc({ outcome: "dead_lettered", reason }),
        fencedUnreadable: (reason) => events.inc({ outcome: "fenced_unreadable", reason }),
        cacheError: () => cacheErrors.inc(),
      },
    });

    // The group member and its dead-letter producer share one client, replaced together when it goes
    // fatal (same group and instance id); the uncommitted messages come again and the versions make
    // that harmless.
    const kafka = replaceOnFatal(
      (onFatal) => createKafka(config.brokers, `catalog-consumer-${config.namespace}`, logger, onFatal),
      async (client) => {
        const dlq = await createProducer(client);
        try {
          const consumer = await createConsumer(
            client,
            { groupId: config.groupId, instanceId: config.instanceId, topic: config.topic, logger, sessionTimeoutMs: config.sessionTimeoutMs, onBatchLag },
            consume,
          );
          return {
            dlq,
            consumer,
            async disconnect() {
              await consumer.disconnect(); // commits the stored offsets
              await dlq.disconnect();
            },
          };
        } catch (err) {
          await dlq.disconnect().catch(() => {});
          throw err;
        }
      },
      { what: "kafka consumer", logger, reopen: "at-once" },
    );
    // The lag each batch leaves behind, per partition this member consumed (see batchLag).
    const lagByPartition = new Map<number, number>();
    let lag: { total: number; partitions: Record<string, number>; at: string } | null = null;
    const onBatchLag = (partition: number, n: number) => {
      lagByPartition.set(partition, n);
      lagGauge.set({ partition: String(partition) }, n);
      lag = { ...lagSummary(lagByPartition), at: new Date().toISOString() };
    };
    const heartbeat = startHeartbeat({
      redis,
      prefix: config.cache.keyPrefix,
      role: "consumer",
      instance: config.instanceId,
      namespace: config.namespace,
      intervalMs: config.heartbeatIntervalMs,
      logger,
      fields: () => ({
        group: config.groupId,
        lag,
        lastAppliedAt: lastAppliedAt === null ? null : new Date(lastAppliedAt).toISOString(),
        commitToCache: recentLatency.count === 0 ? null : { p99Ms: Math.round(recentLatency.quantile(0.99)! * 10) / 10, samples: recentLatency.count },
      }),
    });
    await heartbeat.first;

    await kafka.open();

    // Since when the console's dead-letter view counts: marked once per Redis (again after it lost its data).
    const markView = () => void markDeadLetterView(redis, config.cache.keyPrefix).catch(() => {});
    markView();
    let unassignedSince: number | null = null;
    const watchdog = setInterval(() => {
      markView();
      const member = kafka.current()?.consumer;
      // Partitions a rebalance moved to another member: their lag is that member's to report now.
      const assignedNow = member?.partitions() ?? null;
      if (!stopping && assignedNow) {
        const gone = pruneLags(lagByPartition, assignedNow);
        for (const partition of gone) lagGauge.remove({ partition: String(partition) });
        if (gone.length > 0) lag = { ...lagSummary(lagByPartition), at: new Date().toISOString() };
      }
      if (stopping || !member || (assignedNow?.length ?? 0) > 0) return (unassignedSince = null);
      unassignedSince ??= Date.now();
      if (Date.now() - unassignedSince >= WATCHDOG_MS) {
        unassignedSince = null;
        kafka.replace(`no partitions assigned for ${WATCHDOG_MS / 1000} s`);
      }
    }, 5000);
    watchdog.unref();
    const metrics = await serveMetrics(registry, config.metricsPort, config.metricsHost);
    logger.info({ group: config.groupId, topic: config.topic, metricsPort: metrics.port }, "consumer started");

    return {
      stopping: "committing offsets",
      async stop() {
        stopping = true;
        clearInterval(watchdog);
        await heartbeat.stop();
        await kafka.close();
        await redis.quit().catch(() => {});
        metrics.server.close();
      },
    };
  },
});
