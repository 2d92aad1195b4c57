// Replay jobs in Redis, so any api instance can report a job, and one lock per cache namespace so
// only one full replay runs at a time across instances. The lock's release and renewal are
// lua/release-lease-1.lua and lua/renew-lock-1.lua (owner-checked, so an expired lock taken by
// another job is never touched).
import { readFileSync } from "node:fs";
import type { RedisClient } from "./redis-cache.ts";
import { ServiceUnavailableError, type JobStore, type ReplayJob } from "../usecases/ports.ts";

const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
const SCRIPTS = {
  releaseLease: lua("release-lease-1.lua"),
  renewLock: lua("renew-lock-1.lua"),
};
type JobRedis = RedisClient & {
  releaseLease(key: string, token: string): Promise<number>;
  renewLock(key: string, token: string, ttlMs: number): Promise<number>;
};
const JOB_TTL_SECONDS = 7 * 24 * 3600;
/** How many jobs the index of recent jobs keeps. */
const RECENT_KEPT = 200;

/** A Redis failure is the dependency's, not the api's: 503 UNAVAILABLE for an admin request. */
export function redisOrUnavailable<A extends unknown[], R>(f: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await f(...args);
    } catch (err) {
      throw new ServiceUnavailableError("redis", err);
    }
  };
}

export function createRedisJobStore(client: RedisClient, prefix: string): JobStore {
  const store = redisJobStore(client, prefix);
  return Object.fromEntries(Object.entries(store).map(([name, f]) => [name, redisOrUnavailable(f as (...a: unknown[]) => Promise<unknown>)])) as JobStore;
}

function redisJobStore(client: RedisClient, prefix: string): JobStore {
  for (const [name, source] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== "function") client.defineCommand(name, { numberOfKeys: 1, lua: source });
  }
  const redis = client as JobRedis;
  // Each command and script touches one key, so a Redis Cluster needs no hash tags here.
  const lockKey = (namespace: string) => `${prefix}:${namespace}:replay:lock`;
  const jobKey = (jobId: string) => `${prefix}:replay:job:${jobId}`;
  // Job ids by start time (ms), trimmed to the newest RECENT_KEPT; a job expired since is skipped.
  const recentKey = `${prefix}:replay:jobs`;
  return {
    async tryLock(namespace, jobId, ttlMs) {
      if ((await redis.set(lockKey(namespace), jobId, "PX", ttlMs, "NX")) === "OK") return null;
      return (await redis.get(lockKey(namespace))) ?? "unknown";
    },
    async renew(namespace, jobId, ttlMs) {
      return (await redis.renewLock(lockKey(namespace), jobId, ttlMs)) === 1;
    },
    async release(namespace, jobId) {
      await redis.releaseLease(lockKey(namespace), jobId);
    },
    async save(job) {
      await redis.set(jobKey(job.jobId), JSON.stringify(job), "EX", JOB_TTL_SECONDS);
      // Indexed at every save (one page's cost is far above it), so a lost index heals; a Cluster
      // keeps these keys in different slots, so no MULTI.
      await redis.zadd(recentKey, Date.parse(job.startedAt), job.jobId);
      await redis.zremrangebyrank(recentKey, 0, -RECENT_KEPT - 1);
      await redis.expire(recentKey, JOB_TTL_SECONDS);
    },
    async load(jobId) {
      const raw = await redis.get(jobKey(jobId));
      return raw ? (JSON.parse(raw) as ReplayJob) : null;
    },
    async recent(limit) {
      const ids = await redis.zrevrange(recentKey, 0, Math.max(0, limit - 1));
      const raws = await Promise.all(ids.map((id) => redis.get(jobKey(id))));
      return raws.flatMap((raw) => (raw ? [JSON.parse(raw) as ReplayJob] : []));
    },
  };
}
