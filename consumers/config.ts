// Configuration of the Node processes (relay, consumers), parsed once with the api's readers. Each
// loader reads only the variables its process uses (the compose test holds the deployment to that).
import { ConfigError, int, str, type Env } from "../src/config.ts";
import type { ConsumerMode } from "../src/usecases/decode-event.ts";

export { ConfigError };

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

function kafka(env: Env) {
  const topic = str(env, "KAFKA_TOPIC", "catalog.product-events", TOPIC);
  return {
    brokers: str(env, "KAFKA_BROKERS", "127.0.0.1:9092", /^[^,\s]+(,[^,\s]+)*$/).split(","),
    topic,
    logLevel: str(env, "LOG_LEVEL", "info", /^(fatal|error|warn|info|debug|trace|silent)$/),
    metricsHost: str(env, "METRICS_HOST", "127.0.0.1"),
  };
}

export function loadRelayConfig(env: Env = process.env) {
  const base = kafka(env);
  return {
    ...base,
    databaseUrl: str(env, "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/catalog", /^postgres(ql)?:\/\//),
    metricsPort: int(env, "METRICS_PORT", 9464, 0, 65535),
    batchSize: int(env, "RELAY_BATCH_SIZE", 500, 1, 10_000),
    pollMs: int(env, "RELAY_POLL_MS", 1000, 10, 60_000),
    retentionSeconds: int(env, "RELAY_RETENTION_SECONDS", 3600, 0, 30 * 24 * 3600),
    failpoint: str(env, "RELAY_FAILPOINT", "none", /^(none|crash-after-publish)$/),
    /** Shared by every relay of one outbox and topic: a new leader's producer fences the old one's. */
    transactionalId: str(env, "RELAY_TRANSACTIONAL_ID", `catalog-relay.${base.topic}`, TOPIC),
  };
}

export function loadConsumerConfig(env: Env = process.env) {
  const base = kafka(env);
  const namespace = str(env, "CACHE_NAMESPACE", "catalog", /^[A-Za-z0-9_-]{1,32}$/);
  return {
    ...base,
    dlqTopic: str(env, "KAFKA_DLQ_TOPIC", `${base.topic}.dlq`, TOPIC),
    redisUrl: str(env, "REDIS_URL", "redis://127.0.0.1:6379/0", /^rediss?:\/\//),
    namespace,
    mode: str(env, "CONSUMER_MODE", "rebuild", /^(rebuild|evict)$/) as ConsumerMode,
    groupId: str(env, "CONSUMER_GROUP", `catalog-cache.${namespace}`, TOPIC),
    /** Static group membership (empty: dynamic); unique per running consumer of a group. */
    instanceId: str(env, "CONSUMER_INSTANCE_ID", "", /^[A-Za-z0-9._-]{0,249}$/) || undefined,
    metricsPort: int(env, "METRICS_PORT", 9465, 0, 65535),
    cache: {
      keyPrefix: str(env, "CACHE_KEY_PREFIX", "cc", /^[A-Za-z0-9_.-]{1,32}$/),
      namespace,
      ttlSeconds: int(env, "CACHE_TTL_SECONDS", 3600, 0, 30 * 24 * 3600),
      fenceCheckMs: int(env, "CACHE_FENCE_CHECK_MS", 1000, 50, 60_000),
    },
    commandTimeoutMs: int(env, "REDIS_COMMAND_TIMEOUT_MS", 1000, 10, 60_000),
  };
}

/** Parses config or exits 2 with the reason: a bad setting is an operator's error, not a crash. */
export function configOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
