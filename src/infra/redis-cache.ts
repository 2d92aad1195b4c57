// The Redis adapter of ProductCache: one string key per product and namespace, written only through
// lua/cas-set-2.lua, and one fence key per namespace (lua/fence-1.lua). The formats are in
// cache-format.ts.
//
// The fence: this process serves and "set"s only under the epoch it verified last. It verifies at
// start, after every reconnect (before the connection is used for anything else: a reconnect may
// reach a restarted server or a promoted replica), and every `fenceCheckMs`; a script reply that
// says "fenced" or finds no fence verifies at once.
import { readFileSync } from "node:fs";
import Redis, { type RedisOptions } from "ioredis";
import { CacheUnavailableError, type CacheEntry, type CasResult, type ProductCache, type StoredEntry, type WriteOutcome } from "../usecases/ports.ts";
import { cacheKey, decodeEntry, encodeEntry, fenceKey, leaseKey } from "./cache-format.ts";

export { cacheKey, leaseKey } from "./cache-format.ts";

// node:fs rather than Bun.file: the consumers load this module on Node.
const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
const SCRIPTS = {
  casSet: { keys: 2, source: lua("cas-set-2.lua") },
  replaceIfEqual: { keys: 2, source: lua("replace-if-equal-2.lua") },
  fenceVerify: { keys: 1, source: lua("fence-1.lua") },
  releaseLease: { keys: 1, source: lua("release-lease-1.lua") },
};

type CasReply = [number, number, string];
type CasRedis = Redis & {
  casSet(key: string, fence: string, version: number, kind: string, payload: string, ttlMs: number, mode: string, epoch: string): Promise<CasReply>;
  replaceIfEqual(key: string, fence: string, expected: string, version: number, kind: string, payload: string, ttlMs: number, epoch: string): Promise<number>;
  fenceVerify(fence: string): Promise<[string, number, string]>;
  releaseLease(key: string, token: string): Promise<number>;
};

export type RedisCacheOptions = {
  keyPrefix: string;
  namespace: string;
  ttlSeconds: number;
  /** How often the fence is verified while connected (it also is after every reconnect). */
  fenceCheckMs?: number;
  /** Lifetime of a "no such product" entry (default 30 s). */
  negativeTtlSeconds?: number;
};

/**
 * Fails fast instead of queueing: with the offline queue off and one retry per command, a Redis
 * outage costs each request at most `commandTimeoutMs`, and the read path falls back to PostgreSQL.
 * The connection itself keeps reconnecting in the background (capped backoff).
 */
export function createRedisClient(url: string, commandTimeoutMs: number, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    lazyConnect: false,
    ...extra,
  });
}

const OUTCOMES: Record<number, WriteOutcome> = { 0: "older", 1: "stored", 2: "fenced", 3: "marked" };
const toResult = ([code, version]: CasReply): CasResult => ({ applied: code === 1 || code === 3, version, outcome: OUTCOMES[code] ?? "older" });

// One adapter per client and namespace: the fence state lives here, and a second adapter of the
// same namespace would only verify twice.
const adapters = new WeakMap<Redis, Map<string, ProductCache>>();

// One listener per client and connection event, fanning out to every adapter of that client (a
// process may serve many namespaces on one connection).
type ConnectionEvents = { close: Set<() => void>; ready: Set<() => void>; end: Set<() => void> };
const connectionEvents = new WeakMap<Redis, ConnectionEvents>();
function onConnection(client: Redis): ConnectionEvents {
  let events = connectionEvents.get(client);
  if (!events) {
    const created: ConnectionEvents = { close: new Set(), ready: new Set(), end: new Set() };
    for (const name of ["close", "ready", "end"] as const) client.on(name, () => created[name].forEach((fn) => fn()));
    connectionEvents.set(client, created);
    events = created;
  }
  return events;
}

export function createRedisCache(client: Redis, options: RedisCacheOptions): ProductCache {
  const id = `${options.keyPrefix}:${options.namespace}:${options.ttlSeconds}`;
  let perClient = adapters.get(client);
  if (!perClient) adapters.set(client, (perClient = new Map()));
  const existing = perClient.get(id);
  if (existing) return existing;
  const created = build(client, options);
  perClient.set(id, created);
  return created;
}

function build(client: Redis, options: RedisCacheOptions): ProductCache {
  // defineCommand registers a script once and sends it by SHA (EVALSHA, reloaded on NOSCRIPT).
  for (const [name, { keys, source }] of Object.entries(SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== "function") {
      client.defineCommand(name, { numberOfKeys: keys, lua: source });
    }
  }
  const redis = client as unknown as CasRedis;
  const ttlMs = options.ttlSeconds * 1000;
  const negativeTtlMs = (options.negativeTtlSeconds ?? 30) * 1000;
  const ttlOf = (e: CacheEntry) => (e.kind === "n" ? negativeTtlMs : ttlMs);
  const key = (id: string) => cacheKey(options.keyPrefix, options.namespace, id);
  const fence = fenceKey(options.keyPrefix, options.namespace);

  // The fence state of this process: null until verified, and again from a disconnect until the
  // reconnected server has been verified.
  let epoch: string | null = null;
  let generation = 0; // bumped on every disconnect, so a verification that began before it is discarded
  let verifying: Promise<void> | null = null;
  const readyListeners: (() => void)[] = [];
  const epochListeners: ((epoch: string, previous: string | null) => void)[] = [];
  let waiters: (() => void)[] = [];

  function verify(): Promise<void> {
    verifying ??= (async () => {
      const started = generation;
      try {
        const [verified, armed, previous] = await redis.fenceVerify(fence);
        if (started !== generation) return; // disconnected meanwhile: the next ready verifies again
        const before = epoch;
        epoch = verified;
        const moved = armed === 1 || (before !== null && before !== verified);
        if (moved) for (const l of epochListeners) l(verified, armed === 1 ? previous || null : before);
        if (before === null) {
          for (const l of readyListeners) l();
          const w = waiters;
          waiters = [];
          for (const resolve of w) resolve();
        }
      } catch {
        // unreachable or timed out: stays as it was; the next check or reconnect tries again
      } finally {
        verifying = null;
        // A reconnect while this ran: verify the new connection now (its "ready" found us busy).
        if (started !== generation && client.status === "ready") void verify();
      }
    })();
    return verifying;
  }

  const lose = () => {
    generation++;
    epoch = null;
  };
  const events = onConnection(client);
  events.close.add(lose);
  events.ready.add(() => void verify());
  const timer = setInterval(() => {
    if (client.status === "ready") void verify();
  }, options.fenceCheckMs ?? 1000);
  timer.unref?.();
  events.end.add(() => clearInterval(timer));
  if (client.status === "ready") void verify();

  const usable = () => {
    if (epoch === null) throw new CacheUnavailableError(`the cache fence of ${options.namespace} is not verified`);
  };
  const afterWrite = (replies: CasReply[]) => {
    // Fenced, or no fence at all: learn the new epoch now rather than at the next periodic check.
    if (replies.some(([code, , e]) => code === 2 || e === "" || e !== epoch)) void verify();
    return replies.map(toResult);
  };
  const cas = (id: string, e: CacheEntry, mode: "set" | "advance" | "mark", writerEpoch = "") =>
    redis.casSet(key(id), fence, e.version, e.kind, e.payload, ttlOf(e), mode, writerEpoch);

  return {
    epoch: () => epoch,
    whenReady(timeoutMs) {
      if (epoch !== null) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timeout = setTimeout(() => resolve(false), timeoutMs);
        waiters.push(() => {
          clearTimeout(timeout);
          resolve(true);
        });
      });
    },
    async get(id) {
      usable();
      return decodeEntry(await redis.get(key(id)));
    },
    async getMany(ids) {
      usable();
      if (ids.length === 0) return [];
      return (await redis.mget(ids.map(key))).map(decodeEntry);
    },
    async put(id, entry, writerEpoch) {
      usable();
      return afterWrite([await cas(id, entry, "set", writerEpoch)])[0]!;
    },
    async putMany(items, writerEpoch) {
      usable();
      // Auto-pipelining sends these in one round trip.
      return afterWrite(await Promise.all(items.map(({ id, entry }) => cas(id, entry, "set", writerEpoch))));
    },
    async advance(items) {
      usable();
      return afterWrite(await Promise.all(items.map(({ id, entry }) => cas(id, entry, "advance"))));
    },
    async mark(items) {
      usable();
      return afterWrite(await Promise.all(items.map(({ id, version }) => cas(id, { version, kind: "m", payload: "" }, "mark"))));
    },
    async replaceIfEqual(id, expected: StoredEntry, entry, writerEpoch) {
      usable();
      const code = await redis.replaceIfEqual(key(id), fence, encodeEntry(expected), entry.version, entry.kind, entry.payload, ttlMs, writerEpoch);
      if (code === 2) void verify();
      return code === 1 ? "replaced" : code === 2 ? "fenced" : "changed";
    },
    async acquireLease(id, token, ttl) {
      usable();
      return (await redis.set(leaseKey(options.keyPrefix, options.namespace, id), token, "PX", ttl, "NX")) === "OK";
    },
    async releaseLease(id, token) {
      await redis.releaseLease(leaseKey(options.keyPrefix, options.namespace, id), token);
    },
    async ping() {
      await redis.ping();
    },
    onReady(listener) {
      readyListeners.push(listener);
    },
    onEpochChange(listener) {
      epochListeners.push(listener);
    },
  };
}
