// Each process's heartbeat in Redis (the key layout is in cache-format.ts): who it is, since when,
// whether it leads, how far behind it is. A console lists the live processes with listProcesses.
// Erasable TypeScript: the relay and consumers (Node 24) import it too.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { processIndexKey, processKey } from "./cache-format.ts";
import type { RedisClient } from "./redis-cache.ts";

export type ProcessRole = "api" | "relay" | "consumer" | "storefront";

/** What a heartbeat holds (the key's value, JSON). */
export type Heartbeat = {
  role: ProcessRole;
  instance: string;
  /** The cache namespace it reads or keeps (null: the relay, which has none). */
  namespace: string | null;
  /** package.json's version. */
  version: string;
  pid: number;
  host: string;
  /** ISO times: when the process started, when this heartbeat was written. */
  startedAt: string;
  at: string;
  /** The relay: whether it holds the outbox lock. Absent for the other roles. */
  leader?: boolean;
  /** A consumer: its group, its lag in messages (total and per partition) and when that was measured. */
  group?: string;
  lag?: { total: number; partitions: Record<string, number>; at: string } | null;
  /** A consumer: when it last applied an event (null: not yet). */
  lastAppliedAt?: string | null;
  /** A consumer: the p99 from an event's occurredAt to its cache write, over its last 1,024 events. */
  commitToCache?: { p99Ms: number; samples: number } | null;
  /** An api or storefront: its read path's cache counts since it started. */
  cache?: { hits: number; misses: number; fillsApplied: number; fillsRefused: number };
};

export type LiveProcess = Heartbeat & { key: string; ttlMs: number };

let cachedVersion: string | null = null;
/** The version in package.json (read once). */
export function packageVersion(): string {
  if (cachedVersion === null) {
    try {
      cachedVersion = String(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version ?? "unknown");
    } catch {
      cachedVersion = "unknown";
    }
  }
  return cachedVersion;
}

/** "<hostname>-<pid>": unique among the running processes of a deployment. */
export const defaultInstance = () => `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, "_");

export type HeartbeatOptions = {
  redis: RedisClient;
  prefix: string;
  role: ProcessRole;
  instance?: string;
  namespace: string | null;
  intervalMs: number;
  logger: Logger;
  /** Fields read at each beat (leader, lag, ...). */
  fields?: () => Partial<Heartbeat>;
};

/**
 * Writes the heartbeat now and every `intervalMs`, with a TTL of three intervals. A failed write
 * (Redis down) is logged once per outage and retried at the next beat: the process goes on.
 * `stop()` stops the beats and deletes the key.
 */
export function startHeartbeat(opts: HeartbeatOptions) {
  const instance = opts.instance ?? defaultInstance();
  const key = processKey(opts.prefix, opts.role, instance);
  const index = processIndexKey(opts.prefix);
  const startedAt = new Date().toISOString();
  const ttlMs = opts.intervalMs * 3;
  let failing = false;
  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();

  const beat = () => {
    if (stopped) return inFlight;
    const value: Heartbeat = {
      role: opts.role,
      instance,
      namespace: opts.namespace,
      version: packageVersion(),
      pid: process.pid,
      host: hostname(),
      startedAt,
      at: new Date().toISOString(),
      ...opts.fields?.(),
    };
    // The key, then its place in the index (two slots on a Cluster, so two commands, not a MULTI;
    // an index entry without its key is skipped by the reader and dropped once past its score).
    inFlight = opts.redis
      .set(key, JSON.stringify(value), "PX", ttlMs)
      .then(() => opts.redis.zadd(index, Date.now() + ttlMs, key))
      .then(() => {
        if (failing) opts.logger.info({ key }, "heartbeat written again");
        failing = false;
      })
      .catch((err: Error) => {
        if (!failing) opts.logger.warn({ key, err: err.message }, "heartbeat not written; retrying every interval");
        failing = true;
      });
    return inFlight;
  };
  const timer = setInterval(beat, opts.intervalMs);
  timer.unref();
  return {
    key,
    instance,
    /** Resolves when the first beat was written (or failed). */
    first: beat(),
    /** Writes a beat now (after a change the console should see at once: leadership). */
    beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await Promise.all([opts.redis.del(key), opts.redis.zrem(index, key)]).catch(() => {});
    },
  };
}
export type HeartbeatHandle = ReturnType<typeof startHeartbeat>;

/**
 * The live processes of a deployment: every heartbeat key in the index under `prefix`, with the
 * TTL left, read without scanning the keyspace. Sorted by role, namespace, instance.
 */
export async function listProcesses(redis: RedisClient, prefix: string): Promise<LiveProcess[]> {
  const index = processIndexKey(prefix);
  await redis.zremrangebyscore(index, "-inf", String(Date.now()));
  const keys = await redis.zrange(index, "0", "-1");
  const out: LiveProcess[] = [];
  await Promise.all(
    [...keys].map(async (key) => {
      const [raw, ttlMs] = await Promise.all([redis.get(key), redis.pttl(key)]);
      if (raw === null || ttlMs === -2) return; // expired between the scan and the read
      try {
        out.push({ ...(JSON.parse(raw) as Heartbeat), key, ttlMs });
      } catch {
        // not a heartbeat this version wrote: skipped
      }
    }),
  );
  return out.sort(byRoleNamespaceInstance);
}

/** The order processes are listed in: by role, namespace, instance. */
export function byRoleNamespaceInstance(a: Heartbeat, b: Heartbeat): number {
  const order = (p: Heartbeat) => `${p.role}\u0000${p.namespace ?? ""}\u0000${p.instance}`;
  return order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0;
}
