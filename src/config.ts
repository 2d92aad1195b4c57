// The environment, parsed once into a typed config with clear errors: the one reader of every
// process, the api (Bun) and the relay and consumers (Node 24), so this file is erasable TypeScript
// and imports nothing that runs. A variable that several processes read is declared once below
// (name, default, pattern); each loader reads only the variables its process uses (the compose
// test holds the deployment to that). Every variable is listed in docs/CONFIGURATION.md with its default;
// keep the two in step.
import type { ConsumerMode } from "./usecases/decode-event.ts";

export type AppEnv = "development" | "test" | "production";

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

// ---- readers

export function str(env: Env, name: string, fallback: string, pattern?: RegExp): string {
  const raw = env[name];
  const value = raw === undefined || raw === "" ? fallback : raw;
  if (pattern && !pattern.test(value)) throw new ConfigError(`${name}=${JSON.stringify(value)} must match ${pattern}`);
  return value;
}

export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} must be an integer from ${min} to ${max}`);
  }
  return n;
}

export function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(env[name])} must be true or false`);
}

// ---- variables read by more than one process

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const NAMESPACE = /^[A-Za-z0-9_-]{1,32}$/;

const databaseUrl = (env: Env) => str(env, "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/catalog", /^postgres(ql)?:\/\//);
const redisUrl = (env: Env) => str(env, "REDIS_URL", "redis://127.0.0.1:6379/0", /^rediss?:\/\//);
/** Seed nodes of a Redis Cluster ("host:port,..."); when set, every Redis user takes it instead of REDIS_URL. */
const redisClusterNodes = (env: Env) => {
  const raw = str(env, "REDIS_CLUSTER_NODES", "", /^$|^[^,\s:]+:\d{1,5}(,[^,\s:]+:\d{1,5})*$/);
  return raw ? raw.split(",") : null;
};
const logLevel = (env: Env) => str(env, "LOG_LEVEL", "info", /^(fatal|error|warn|info|debug|trace|silent)$/);
const cacheNamespace = (env: Env) => str(env, "CACHE_NAMESPACE", "catalog", NAMESPACE);
/** The api gives up on Redis sooner (it has PostgreSQL to fall back on) than a consumer (it retries). */
const redisCommandTimeoutMs = (env: Env, fallback: number) => int(env, "REDIS_COMMAND_TIMEOUT_MS", fallback, 10, 60_000);
const keyPrefix = (env: Env) => str(env, "CACHE_KEY_PREFIX", "cc", /^[A-Za-z0-9_.-]{1,32}$/);
/** How often each process writes its heartbeat key (src/infra/heartbeat.ts); its TTL is three times that. */
const heartbeatIntervalMs = (env: Env) => int(env, "HEARTBEAT_INTERVAL_MS", 2000, 100, 60_000);
/** The cache settings every writer of a namespace shares. */
const cacheKeys = (env: Env) => ({
  keyPrefix: keyPrefix(env),
  ttlSeconds: int(env, "CACHE_TTL_SECONDS", 3600, 0, 30 * 24 * 3600),
  /** How often the namespace's fence is verified while connected (also after every reconnect). */
  fenceCheckMs: int(env, "CACHE_FENCE_CHECK_MS", 1000, 50, 60_000),
});
/** The near cache (L1) of a reading process: bounded, versioned, kept right by the change feed. */
const nearCache = (env: Env) => ({
  enabled: bool(env, "L1_ENABLED", false),
  maxEntries: int(env, "L1_MAX_ENTRIES", 100_000, 1, 100_000_000),
  maxBytes: int(env, "L1_MAX_BYTES", 64 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
  /** An entry older than this is read again from Redis, whatever the feed says. */
  maxStalenessMs: int(env, "L1_MAX_STALENESS_MS", 1000, 0, 3_600_000),
  /** Each process publishes a heartbeat this often; three missed make L1 step aside and empty. */
  heartbeatMs: int(env, "L1_HEARTBEAT_MS", 1000, 50, 60_000),
  /**
   * Each L1 answer first checks, with one read shared by the requests waiting at that moment, that
   * nothing changed since (linearizable across instances); false answers at once (an instance may
   * lag another by the change message's delay).
   */
  readBarrier: bool(env, "L1_READ_BARRIER", true),
});
const kafkaBrokers = (env: Env) => str(env, "KAFKA_BROKERS", "127.0.0.1:9092", /^[^,\s]+(,[^,\s]+)*$/).split(",");
const kafkaTopic = (env: Env) => str(env, "KAFKA_TOPIC", "catalog.product-events", TOPIC);
const dlqTopic = (env: Env) => str(env, "KAFKA_DLQ_TOPIC", `${kafkaTopic(env)}.dlq`, TOPIC);
/** What the Kafka-side processes share: the broker, the topic, the log level and where /metrics listens. */
function kafkaProcess(env: Env, defaultMetricsPort: number) {
  return {
    brokers: kafkaBrokers(env),
    topic: kafkaTopic(env),
    logLevel: logLevel(env),
    metricsHost: str(env, "METRICS_HOST", "127.0.0.1"),
    metricsPort: int(env, "METRICS_PORT", defaultMetricsPort, 0, 65535),
  };
}

// ---- the api

export type Config = {
  env: AppEnv;
  host: string;
  port: number;
  databaseUrl: string;
  redisUrl: string;
  redisClusterNodes: string[] | null;
  cache: {
    keyPrefix: string;
    namespace: string;
    ttlSeconds: number;
    writeThrough: boolean;
    commandTimeoutMs: number;
    /** How often the namespace's fence is verified while connected (also after every reconnect). */
    fenceCheckMs: number;
    /** Lifetime of a cached "no such product"; 0 turns negative caching off. */
    negativeTtlSeconds: number;
  };
  bodyLimitBytes: number;
  logLevel: string;
  /** Bearer token of the admin endpoints; null only in development (then they are open). */
  adminToken: string | null;
  lease: { leaseMs: number; waitMs: number };
  l1: ReturnType<typeof nearCache>;
  heartbeatIntervalMs: number;
  /** The operator's console and views (GET /admin/console). */
  console: {
    /** Lifetime of a console session cookie. */
    sessionTtlMs: number;
    /** Namespaces the views always show, beside the api's own and those of live processes. */
    namespaces: string[];
  };
};

export function loadConfig(env: Env = process.env): Config {
  const appEnv = str(env, "APP_ENV", env.NODE_ENV === "production" ? "production" : "development", /^(development|test|production)$/) as AppEnv;
  const adminToken = env.ADMIN_TOKEN ? env.ADMIN_TOKEN : null;
  if (appEnv !== "development" && (adminToken === null || adminToken.length < 16)) {
    throw new ConfigError(`ADMIN_TOKEN must be set to a secret of at least 16 characters when APP_ENV=${appEnv} (only development runs without one)`);
  }
  const { keyPrefix, ttlSeconds, fenceCheckMs } = cacheKeys(env);
  return {
    env: appEnv,
    host: str(env, "HOST", "127.0.0.1"),
    port: int(env, "PORT", 3000, 0, 65535),
    databaseUrl: databaseUrl(env),
    redisUrl: redisUrl(env),
    redisClusterNodes: redisClusterNodes(env),
    cache: {
      keyPrefix,
      namespace: cacheNamespace(env),
      ttlSeconds,
      writeThrough: bool(env, "CACHE_WRITE_THROUGH", true),
      commandTimeoutMs: redisCommandTimeoutMs(env, 250),
      fenceCheckMs,
      negativeTtlSeconds: int(env, "CACHE_NEGATIVE_TTL_SECONDS", 30, 0, 24 * 3600),
    },
    bodyLimitBytes: int(env, "BODY_LIMIT_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
    logLevel: logLevel(env),
    adminToken,
    lease: {
      leaseMs: int(env, "CACHE_LEASE_MS", 2000, 100, 60_000),
      waitMs: int(env, "CACHE_LEASE_WAIT_MS", 200, 0, 10_000),
    },
    l1: nearCache(env),
    heartbeatIntervalMs: heartbeatIntervalMs(env),
    console: {
      sessionTtlMs: int(env, "CONSOLE_SESSION_TTL_MS", 8 * 3600_000, 60_000, 7 * 24 * 3600_000),
      namespaces: str(env, "CONSOLE_NAMESPACES", "", /^([A-Za-z0-9_-]{1,32}(,[A-Za-z0-9_-]{1,32})*)?$/).split(",").filter(Boolean),
    },
  };
}

// ---- the relay (Node 24)

export function loadRelayConfig(env: Env = process.env) {
  const base = kafkaProcess(env, 9464);
  return {
    ...base,
    databaseUrl: databaseUrl(env),
    batchSize: int(env, "RELAY_BATCH_SIZE", 500, 1, 10_000),
    pollMs: int(env, "RELAY_POLL_MS", 1000, 10, 60_000),
    retentionSeconds: int(env, "RELAY_RETENTION_SECONDS", 3600, 0, 30 * 24 * 3600),
    failpoint: str(env, "RELAY_FAILPOINT", "none", /^(none|crash-after-publish)$/),
    /** Shared by every relay of one outbox and topic: a new leader's producer fences the old one's. */
    transactionalId: str(env, "RELAY_TRANSACTIONAL_ID", `catalog-relay.${base.topic}`, TOPIC),
    /** The dead-letter topic an operator's re-drive reads (src/infra/redrive-requests.ts). */
    dlqTopic: dlqTopic(env),
    /** For the heartbeat and the operators' re-drive requests (the relay keeps no cache). */
    redisUrl: redisUrl(env),
    redisClusterNodes: redisClusterNodes(env),
    keyPrefix: keyPrefix(env),
    heartbeatIntervalMs: heartbeatIntervalMs(env),
  };
}
export type RelayConfig = ReturnType<typeof loadRelayConfig>;

// ---- a cache consumer (Node 24)

export function loadConsumerConfig(env: Env = process.env) {
  const base = kafkaProcess(env, 9465);
  const namespace = cacheNamespace(env);
  return {
    ...base,
    dlqTopic: dlqTopic(env),
    redisUrl: redisUrl(env),
    redisClusterNodes: redisClusterNodes(env),
    namespace,
    mode: str(env, "CONSUMER_MODE", "rebuild", /^(rebuild|evict)$/) as ConsumerMode,
    groupId: str(env, "CONSUMER_GROUP", `catalog-cache.${namespace}`, TOPIC),
    /** Static group membership (empty: dynamic); unique per running consumer of a group. */
    instanceId: str(env, "CONSUMER_INSTANCE_ID", "", /^[A-Za-z0-9._-]{0,249}$/) || undefined,
    /** How long a dead member keeps its partitions before the group hands them to the others. */
    sessionTimeoutMs: int(env, "KAFKA_SESSION_TIMEOUT_MS", 30_000, 6_000, 300_000),
    cache: { ...cacheKeys(env), namespace },
    commandTimeoutMs: redisCommandTimeoutMs(env, 1000),
    heartbeatIntervalMs: heartbeatIntervalMs(env),
  };
}
export type ConsumerConfig = ReturnType<typeof loadConsumerConfig>;

// ---- the storefront (Bun): a second service that reads its own namespace

export function loadStorefrontConfig(env: Env = process.env) {
  const { keyPrefix, ttlSeconds, fenceCheckMs } = cacheKeys(env);
  return {
    host: str(env, "HOST", "127.0.0.1"),
    port: int(env, "PORT", 3100, 0, 65535),
    /** The catalog api it reads on a miss. */
    catalogUrl: str(env, "CATALOG_URL", "http://127.0.0.1:3000", /^https?:\/\/[^\s]+$/),
    catalogTimeoutMs: int(env, "CATALOG_TIMEOUT_MS", 2000, 50, 60_000),
    redisUrl: redisUrl(env),
    redisClusterNodes: redisClusterNodes(env),
    logLevel: logLevel(env),
    cache: {
      keyPrefix,
      namespace: str(env, "CACHE_NAMESPACE", "storefront", NAMESPACE),
      ttlSeconds,
      fenceCheckMs,
      commandTimeoutMs: redisCommandTimeoutMs(env, 250),
      negativeTtlSeconds: int(env, "CACHE_NEGATIVE_TTL_SECONDS", 30, 0, 24 * 3600),
    },
    lease: {
      leaseMs: int(env, "CACHE_LEASE_MS", 2000, 100, 60_000),
      waitMs: int(env, "CACHE_LEASE_WAIT_MS", 200, 0, 10_000),
    },
    l1: nearCache(env),
    heartbeatIntervalMs: heartbeatIntervalMs(env),
  };
}
export type StorefrontConfig = ReturnType<typeof loadStorefrontConfig>;
