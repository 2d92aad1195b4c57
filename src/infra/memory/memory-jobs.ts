// The in-memory twin of the Redis job store: jobs and the one-full-replay lock per namespace, with
// lifetimes on a clock the test moves (the lock of a job whose process died expires).
import type { JobStore, ReplayJob } from "../../usecases/ports.ts";

export function createMemoryJobStore(options: { now?: () => number } = {}): JobStore & { jobs: Map<string, ReplayJob> } {
  const now = options.now ?? Date.now;
  const locks = new Map<string, { owner: string; expiresAt: number }>();
  const jobs = new Map<string, ReplayJob>();
  const holder = (namespace: string) => {
    const lock = locks.get(namespace);
    if (lock && lock.expiresAt <= now()) {
      locks.delete(namespace);
      return null;
    }
    return lock ?? null;
  };
  return {
    jobs,
    async tryLock(namespace, jobId, ttlMs) {
      const lock = holder(namespace);
      if (lock) return lock.owner;
      locks.set(namespace, { owner: jobId, expiresAt: now() + ttlMs });
      return null;
    },
    async renew(namespace, jobId, ttlMs) {
      const lock = holder(namespace);
      if (lock?.owner !== jobId) return false;
      lock.expiresAt = now() + ttlMs;
      return true;
    },
    async release(namespace, jobId) {
      if (holder(namespace)?.owner === jobId) locks.delete(namespace);
    },
    async save(job) {
      jobs.set(job.jobId, structuredClone(job));
    },
    async load(jobId) {
      const job = jobs.get(jobId);
      return job ? structuredClone(job) : null;
    },
    async recent(limit) {
      const newestFirst = [...jobs.values()].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.jobId < b.jobId ? 1 : -1));
      return newestFirst.slice(0, limit).map((j) => structuredClone(j));
    },
  };
}
