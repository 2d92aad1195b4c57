// Replay jobs in Redis, so any api instance can report a job, and one lock per cache namespace so
// only one full replay runs at a time across instances.
import type Redis from "ioredis";
import type { JobStore, ReplayJob } from "../usecases/replay-jobs.ts";

const RELEASE_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RENEW_IF_OWNER = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const JOB_TTL_SECONDS = 7 * 24 * 3600;

export function createRedisJobStore(redis: Redis, prefix: string): JobStore {
  const lockKey = (namespace: string) => `${prefix}:${namespace}:replay:lock`;
  const jobKey = (jobId: string) => `${prefix}:replay:job:${jobId}`;
  return {
    async tryLock(namespace, jobId, ttlMs) {
      if ((await redis.set(lockKey(namespace), jobId, "PX", ttlMs, "NX")) === "OK") return null;
      return (await redis.get(lockKey(namespace))) ?? "unknown";
    },
    async renew(namespace, jobId, ttlMs) {
      return (await redis.eval(RENEW_IF_OWNER, 1, lockKey(namespace), jobId, ttlMs)) === 1;
    },
    async release(namespace, jobId) {
      await redis.eval(RELEASE_IF_OWNER, 1, lockKey(namespace), jobId);
    },
    async save(job) {
      await redis.set(jobKey(job.jobId), JSON.stringify(job), "EX", JOB_TTL_SECONDS);
    },
    async load(jobId) {
      const raw = await redis.get(jobKey(jobId));
      return raw ? (JSON.parse(raw) as ReplayJob) : null;
    },
  };
}
