// The relay process (Node 24): outbox → Kafka, in commit order. Start: node relay/main.ts
// It also carries out the operators' re-drives of dead letters, which the api (on Bun, without a
// Kafka client) asks for through Redis (src/infra/redrive-requests.ts).
// On SIGTERM it finishes the batch in flight, stops a re-drive in progress, closes its producer
// and its PostgreSQL session.
import { loadRelayConfig } from "../src/config.ts";
import { startHeartbeat } from "../src/infra/heartbeat.ts";
import { createKafka, createOutboxPublisher } from "../src/infra/kafka.ts";
import { redriveDeadLetters } from "../src/infra/kafka-tool-runner.ts";
import { Counter, Gauge, Histogram, LATENCY_BUCKETS, createRegistry, serveMetrics } from "../src/infra/metrics.ts";
import { createOutboxStore } from "../src/infra/outbox-store.ts";
import { createRedisClient } from "../src/infra/redis-cache.ts";
import { serveRedriveRequests } from "../src/infra/redrive-requests.ts";
import { runProcess } from "../src/process.ts";
import { createRelay } from "../src/usecases/relay-outbox.ts";

await runProcess({
  name: "relay",
  usage: "usage: node relay/main.ts   (Node 24: .tools/node_modules/.bin/node, or node after source scripts/env.sh)\nThe outbox relay: publishes the outbox rows to KAFKA_TOPIC in commit order; one instance leads at a time.",
  loadConfig: loadRelayConfig,
  async start(config, logger) {
    const registry = createRegistry({ process: "relay" });
    const published = new Counter({ name: "catalog_relay_published_total", help: "Outbox rows published to Kafka and acknowledged", registers: [registry] });
    const publishSeconds = new Histogram({ name: "catalog_relay_batch_seconds", help: "Publish and mark time of one batch", buckets: LATENCY_BUCKETS, registers: [registry] });
    const backlogRows = new Gauge({ name: "catalog_relay_backlog_rows", help: "Outbox rows not yet sent", registers: [registry] });
    const backlogAge = new Gauge({ name: "catalog_relay_oldest_unsent_seconds", help: "Age of the oldest unsent outbox row", registers: [registry] });
    const isLeader = new Gauge({ name: "catalog_relay_is_leader", help: "1 while this relay holds the outbox lock", registers: [registry] });
    const errors = new Counter({ name: "catalog_relay_errors_total", help: "Relay passes that failed and were retried", registers: [registry] });

    const store = createOutboxStore(config.databaseUrl, (err) => logger.warn({ err: err.message }, "outbox session lost"));
    // Opened only while this relay leads; a failed publish closes it and the next pass opens a new
    // one, as does a fatal error of its client (src/infra/kafka-replace.ts).
    const publisher = createOutboxPublisher((onFatal) => createKafka(config.brokers, "catalog-relay", logger, onFatal), config.topic, config.transactionalId, logger);
    const metrics = await serveMetrics(registry, config.metricsPort, config.metricsHost);

    // Redis only for the heartbeat and the re-drive requests: the relay works without it.
    const redis = createRedisClient(config, 1000);
    redis.on("error", (err) => logger.debug({ err: err.message }, "redis connection error (heartbeat, re-drive requests)"));
    let leading = false;
    const heartbeat = startHeartbeat({
      redis,
      prefix: config.keyPrefix,
      role: "relay",
      namespace: null,
      intervalMs: config.heartbeatIntervalMs,
      logger,
      fields: () => ({ leader: leading }),
    });

    const relay = createRelay({
      store,
      publisher,
      logger,
      observe: {
        published(rows, seconds) {
          published.inc(rows);
          publishSeconds.observe(seconds);
        },
        leader(leader) {
          isLeader.set(leader ? 1 : 0);
          leading = leader;
          void heartbeat.beat(); // the console sees a new leader at once
        },
        backlog(rows, age) {
          backlogRows.set(rows);
          backlogAge.set(age);
        },
        error: () => errors.inc(),
      },
      options: {
        batchSize: config.batchSize,
        pollMs: config.pollMs,
        retentionSeconds: config.retentionSeconds,
        // Fault injection for the tests: die like kill -9 after the broker acknowledged, before the mark.
        afterPublish: config.failpoint === "crash-after-publish" ? () => process.kill(process.pid, "SIGKILL") : undefined,
      },
    });
    void relay.start();
    const redrives = serveRedriveRequests({
      redis,
      prefix: config.keyPrefix,
      relay: heartbeat.instance,
      run: (group, signal) => redriveDeadLetters({ brokers: config.brokers, dlqTopic: config.dlqTopic, group, signal }),
      logger,
    });
    logger.info({ topic: config.topic, metricsPort: metrics.port, batchSize: config.batchSize, transactionalId: config.transactionalId }, "relay started");

    return {
      stopping: "finishing the batch in flight",
      async stop() {
        await redrives.stop(); // kills a re-drive in progress
        await heartbeat.stop();
        await relay.stop(); // closes the producer
        await store.close();
        await redis.quit().catch(() => {});
        metrics.server.close();
      },
    };
  },
});
