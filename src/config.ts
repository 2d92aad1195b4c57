// The environment, parsed once into a typed config with clear errors. Every variable is listed in
// the README with its default; keep the two in step.

export type AppEnv = "development" | "test" | "production";

export type Config = {
  env: AppEnv;
  host: string;
  port: number;
  databaseUrl: string;
  redisUrl: string;
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
};

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

// Readers shared with the Node processes (consumers/config.ts).
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

export function loadConfig(env: Env = process.env): Config {
  const appEnv = str(env, "APP_ENV", env.NODE_ENV === "production" ? "production" : "development", /^(development|test|production)$/) as AppEnv;
  const adminToken = env.ADMIN_TOKEN ? env.ADMIN_TOKEN : null;
  if (appEnv !== "development" && (adminToken === null || adminToken.length < 16)) {
    throw new ConfigError(`ADMIN_TOKEN must be set to a secret of at least 16 characters when APP_ENV=${appEnv} (only development runs without one)`);
  }
  return {
    env: appEnv,
    host: str(env, "HOST", "127.0.0.1"),
    port: int(env, "PORT", 3000, 0, 65535),
    databaseUrl: str(env, "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/catalog", /^postgres(ql)?:\/\//),
    redisUrl: str(env, "REDIS_URL", "redis://127.0.0.1:6379/0", /^rediss?:\/\//),
    cache: {
      keyPrefix: str(env, "CACHE_KEY_PREFIX", "cc", /^[A-Za-z0-9_.-]{1,32}$/),
      namespace: str(env, "CACHE_NAMESPACE", "catalog", /^[A-Za-z0-9_-]{1,32}$/),
      ttlSeconds: int(env, "CACHE_TTL_SECONDS", 3600, 0, 30 * 24 * 3600),
      writeThrough: bool(env, "CACHE_WRITE_THROUGH", true),
      commandTimeoutMs: int(env, "REDIS_COMMAND_TIMEOUT_MS", 250, 10, 60_000),
      fenceCheckMs: int(env, "CACHE_FENCE_CHECK_MS", 1000, 50, 60_000),
      negativeTtlSeconds: int(env, "CACHE_NEGATIVE_TTL_SECONDS", 30, 0, 24 * 3600),
    },
    bodyLimitBytes: int(env, "BODY_LIMIT_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
    logLevel: str(env, "LOG_LEVEL", "info", /^(fatal|error|warn|info|debug|trace|silent)$/),
    adminToken,
    lease: {
      leaseMs: int(env, "CACHE_LEASE_MS", 2000, 100, 60_000),
      waitMs: int(env, "CACHE_LEASE_WAIT_MS", 200, 0, 10_000),
    },
  };
}
