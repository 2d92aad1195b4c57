// The Redis adapter of ProductCache: one string key per product and namespace, written only through
// the compare-and-set rules of lua/cas-rules.lua (lua/cas-set-3.lua for one entry, lua/cas-set-many-n.lua
// for a batch of "set" entries under one fence), and a fence (lua/fence-1.lua): one key per
// namespace on a single server, one per bucket of the namespace on a Redis Cluster, where a
// script's keys must share a slot. The formats and the key layout are in cache-format.ts.
//
// The fence: this process serves and "set"s only under the epoch it verified last. It verifies at
// start, after every reconnect and whenever a Cluster node's connection ends (before the
// connection is used for anything else: a reconnect may reach a restarted server or a promoted
// replica), and every `fenceCheckMs`; a script reply that says "fenced" or finds no fence verifies
// at once. On a Cluster, verifying means bringing every bucket's fence to one epoch (converge()).
import { readFileSync } from "node:fs";
import Redis, { Cluster, type RedisOptions } from "ioredis";
import { CacheUnavailableError, type CacheEntry, type CasResult, type ProductCache, type Stamp, type StoredEntry, type WriteOutcome } from "../usecases/ports.ts";
import { compareEpochs, decodeEntry, encodeEntry, keyLayout } from "./cache-format.ts";
import { coalescedReads } from "./coalesced-reads.ts";

export { cacheKey, leaseKey } from "./cache-format.ts";

// node:fs rather than Bun.file: the consumers load this module on Node.
const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
/** The compare-and-set rules (local Lua functions), put in front of every script that writes an entry. */
const CAS_RULES = lua("cas-rules.lua");
/** The scripts as sent to Redis; `keys` undefined: the number of keys is the first argument. */
export const CACHE_SCRIPTS: Record<string, { keys?: number; source: string }> = {
  casSet: { keys: 3, source: CAS_RULES + lua("cas-set-3.lua") },
  casSetMany: { source: CAS_RULES + lua("cas-set-many-n.lua") },
  replaceIfEqual: { keys: 3, source: CAS_RULES + lua("replace-if-equal-3.lua") },
  fenceVerify: { keys: 1, source: lua("fence-1.lua") },
  releaseLease: { keys: 1, source: lua("release-lease-1.lua") },
};

/** A single server's client or a Redis Cluster's: every user of Redis takes either. */
export type RedisClient = Redis | Cluster;

type CasReply = [number, number, string];
/** epoch ("" for none), 1 when armed, the previous epoch, 1 when now trusted. */
type FenceReply = [string, number, string, number];
type CasRedis = RedisClient & {
  casSet(key: string, fence: string, sequence: string, version: number, kind: string, payload: string, ttlMs: number, mode: string, epoch: string, channel: string): Promise<CasReply>;
  /** cas-set-many-n.lua: numKeys, fence, sequence, the entries' keys, epoch, channel, TTLs, then version, kind, payload per entry. */
  casSetMany(...args: (string | number)[]): Promise<(string | number)[]>;
  replaceIfEqual(key: string, fence: string, sequence: string, expected: string, version: number, kind: string, payload: string, ttlMs: number, epoch: string, channel: string): Promise<number>;
  fenceVerify(fence: string, op: "check" | "arm" | "raise", floor: string): Promise<FenceReply>;
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
  /** Entries per call of cas-set-many-n.lua in putMany (default PUT_BATCH). */
  putBatch?: number;
};

/**
 * Entries per compare-and-set call in putMany: a call holds Redis for its entries (about 5 µs
 * each), and fewer calls cost the client less (docs/BENCHMARKS.md, "Replay rate").
 */
export const PUT_BATCH = 250;

/** Where Redis is: a URL, or (REDIS_CLUSTER_NODES) the seed nodes of a Redis Cluster. */
export type RedisTarget = { redisUrl: string; redisClusterNodes?: readonly string[] | null };

const backoff = (attempt: number) => Math.min(50 * 2 ** attempt, 2000);

/**
 * Fails fast instead of queueing: with the offline queue off and one retry per command, a Redis
 * outage costs each request at most `commandTimeoutMs`, and the read path falls back to PostgreSQL.
 * The connection itself keeps reconnecting in the background (capped backoff). On a Cluster,
 * MOVED, ASK and TRYAGAIN are followed (a slot being moved), but a command whose node's
 * connection closed fails instead of being sent again to whoever takes over: the caller decides.
 */
export function createRedisClient(target: RedisTarget | string, commandTimeoutMs: number, extra: RedisOptions = {}): RedisClient {
  const { redisUrl, redisClusterNodes } = typeof target === "string" ? { redisUrl: target, redisClusterNodes: null } : target;
  const options: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    enableAutoPipelining: true,
    retryStrategy: backoff,
    lazyConnect: false,
    ...extra,
  };
  if (!redisClusterNodes?.length) return new Redis(redisUrl, options);
  // No auto-pipelining on a Cluster: ioredis re-sends an auto-pipelined batch after MOVED only
  // when every command in it failed the same way, so after a failover or a moved slot the other
  // commands of a batch would fail with MOVED; sent one by one, each follows its redirection.
  const { enableOfflineQueue, enableAutoPipelining: _batches, lazyConnect, retryStrategy: _perNode, ...perNode } = options;
  return new Cluster(
    redisClusterNodes.map((hostPort) => {
      const at = hostPort.lastIndexOf(":");
      return { host: hostPort.slice(0, at), port: Number(hostPort.slice(at + 1)) };
    }),
    {
      enableOfflineQueue,
      enableAutoPipelining: false,
      lazyConnect,
      clusterRetryStrategy: backoff,
      retryDelayOnFailover: 0,
      retryDelayOnTryAgain: 20,
      retryDelayOnClusterDown: 100,
      slotsRefreshTimeout: 2000,
      redisOptions: perNode,
    },
  );
}

/** How soon an unverified fence is tried again while the connection is up. */
const UNVERIFIED_RETRY_MS = 100;

const OUTCOMES: Record<number, WriteOutcome> = { 0: "older", 1: "stored", 2: "fenced", 3: "marked" };
const toResult = ([code, version]: CasReply): CasResult => ({ applied: code === 1 || code === 3, version, outcome: OUTCOMES[code] ?? "older" });

// One adapter per client and namespace: the fence state lives here, and a second adapter of the
// same namespace would only verify twice.
const adapters = new WeakMap<RedisClient, Map<string, ProductCache>>();

// One listener per client and connection event, fanning out to every adapter of that client (a
// process may serve many namespaces on one connection).
// On a Cluster, a node's connection ending ("-node") counts as a close: the node may be gone and
// its slots about to be served by a replica that lacks the last writes.
type ConnectionEvents = { close: Set<() => void>; ready: Set<() => void>; end: Set<() => void> };
const connectionEvents = new WeakMap<RedisClient, ConnectionEvents>();
function onConnection(client: RedisClient): ConnectionEvents {
  let events = connectionEvents.get(client);
  if (!events) {
    const created: ConnectionEvents = { close: new Set(), ready: new Set(), end: new Set() };
    for (const name of ["close", "ready", "end"] as const) client.on(name, () => created[name].forEach((fn) => fn()));
    if (client instanceof Cluster) {
      // Verify at once: it fails until the node's slots have a master again, then arms a new epoch.
      client.on("-node", () => {
        created.close.forEach((fn) => fn());
        created.ready.forEach((fn) => fn());
      });
    }
    connectionEvents.set(client, created);
    events = created;
  }
  return events;
}

export function createRedisCache(client: RedisClient, options: RedisCacheOptions): ProductCache {
  const id = `${options.keyPrefix}:${options.namespace}:${options.ttlSeconds}`;
  let perClient = adapters.get(client);
  if (!perClient) adapters.set(client, (perClient = new Map()));
  const existing = perClient.get(id);
  if (existing) return existing;
  const created = build(client, options);
  perClient.set(id, created);
  return created;
}

function build(client: RedisClient, options: RedisCacheOptions): ProductCache {
  // defineCommand registers a script once and sends it by SHA (EVALSHA, reloaded on NOSCRIPT).
  for (const [name, { keys, source }] of Object.entries(CACHE_SCRIPTS)) {
    if (typeof (client as unknown as Record<string, unknown>)[name] !== "function") {
      client.defineCommand(name, keys === undefined ? { lua: source } : { numberOfKeys: keys, lua: source });
    }
  }
  const redis = client as unknown as CasRedis;
  const ttlMs = options.ttlSeconds * 1000;
  const negativeTtlMs = (options.negativeTtlSeconds ?? 30) * 1000;
  const ttlOf = (e: CacheEntry) => (e.kind === "n" ? negativeTtlMs : ttlMs);
  const layout = keyLayout(options.keyPrefix, options.namespace, client instanceof Cluster);
  const key = layout.entry;
  const fenceOf = (id: string) => layout.fences[layout.bucketOf(id)]!;

  // The fence state of this process: null until verified, and again from a disconnect until the
  // reconnected server has been verified.
  let epoch: string | null = null;
  let lastKnown: string | null = null; // the last verified epoch, kept across disconnects
  let generation = 0; // bumped on every disconnect, so a verification that began before it is discarded
  let verifying: Promise<void> | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  const readyListeners: (() => void)[] = [];
  const epochListeners: ((epoch: string, previous: string | null) => void)[] = [];
  let waiters: (() => void)[] = [];

  // Read barriers (a near cache's): the fence and change sequence of a bucket, read after the
  // caller asked. The callers of one event-loop turn share one read, sent after that turn; never
  // one that was already sent when they asked (src/infra/coalesced-reads.ts).
  const toStamp = (fence: string, fenceValue: string | null | undefined, seq: string | null | undefined): Stamp => ({
    source: layout.sequenceOf(fence),
    fence: fenceValue ?? "",
    seq: Number(seq ?? 0),
  });
  const stamps = coalescedReads(async (bucket: number): Promise<Stamp> => {
    const fence = layout.fences[bucket]!;
    const [fenceValue, seq] = await redis.mget(fence, layout.sequenceOf(fence));
    return toStamp(fence, fenceValue, seq);
  });

  function verify(): Promise<void> {
    verifying ??= (async () => {
      const started = generation;
      try {
        const { epoch: verified, armed, previous } = await converge();
        if (started !== generation) return; // disconnected meanwhile: the next ready verifies again
        const before = epoch;
        const known = lastKnown;
        epoch = verified;
        lastKnown = verified;
        const moved = armed || (known !== null && known !== verified);
        if (moved) for (const l of epochListeners) l(verified, armed ? previous || known : known);
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
        // Still unverified while connected (on a Cluster: a node's slots have no master yet, a
        // failover is under way): try again soon rather than at the next periodic check.
        else if (epoch === null && client.status === "ready" && !retry) {
          retry = setTimeout(() => {
            retry = null;
            if (client.status === "ready") void verify();
          }, UNVERIFIED_RETRY_MS);
          retry.unref?.();
        }
      }
    })();
    return verifying;
  }

  /**
   * Brings every fence of the namespace to one trusted epoch and returns it. A fence that cannot
   * be trusted (missing, or armed on another server process) is armed above every epoch any fence
   * holds, so above every epoch a writer can have learnt before the loss; then the buckets are
   * raised to the highest epoch among them. With one fence this is one script, two after a loss.
   */
  async function converge(): Promise<{ epoch: string; armed: boolean; previous: string }> {
    const { fences } = layout;
    let replies = await Promise.all(fences.map((f) => redis.fenceVerify(f, "check", "")));
    let armed = false;
    let previous = "";
    const highest = (rs: FenceReply[], from = "") => rs.reduce((m, [e]) => (e !== "" && compareEpochs(e, m) > 0 ? e : m), from);
    const note = (rs: FenceReply[]) => {
      for (const [, a, p] of rs) if (a === 1) (armed = true), (previous ||= p);
    };
    if (replies.some(([, , , trusted]) => trusted === 0)) {
      // Above what this process knew too: every fence may have been lost at once.
      const floor = highest(replies, lastKnown ?? "");
      replies = await Promise.all(fences.map((f, i) => (replies[i]![3] === 1 ? replies[i]! : redis.fenceVerify(f, "arm", floor))));
      note(replies);
    }
    for (let round = 0; round < 8; round++) {
      const target = highest(replies);
      if (replies.every(([e, , , trusted]) => trusted === 1 && e === target)) return { epoch: target, armed, previous };
      replies = await Promise.all(fences.map((f) => redis.fenceVerify(f, "raise", target)));
      note(replies);
    }
    throw new Error(`the fences of ${options.namespace} did not reach one epoch`);
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
  events.end.add(() => {
    clearInterval(timer);
    if (retry) clearTimeout(retry);
  });
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
    redis.casSet(key(id), fenceOf(id), layout.sequenceOf(fenceOf(id)), e.version, e.kind, e.payload, ttlOf(e), mode, writerEpoch, layout.channel);

  const putBatch = Math.max(1, options.putBatch ?? PUT_BATCH);
  /**
   * "set" for many entries: one cas-set-many-n.lua call per fence (one on a single server, one per
   * bucket on a Cluster) and per `putBatch` entries, all sent at once; `replies[i]` gets entry i's.
   * Entries of one id stay in their order (same bucket, same call or calls sent in order).
   */
  async function setMany(items: readonly { id: string; entry: CacheEntry }[], writerEpoch: string): Promise<CasReply[]> {
    const replies: CasReply[] = new Array(items.length);
    const calls: Promise<void>[] = [];
    const send = (fence: string, idx: readonly number[] | null, from: number, to: number) => {
      const count = to - from;
      const keys: string[] = new Array(count);
      const args: (string | number)[] = [count + 2, fence, layout.sequenceOf(fence)];
      const tail: (string | number)[] = [writerEpoch, layout.channel, ttlMs, negativeTtlMs];
      for (let j = 0; j < count; j++) {
        const { id, entry } = items[idx ? idx[from + j]! : from + j]!;
        keys[j] = key(id);
        tail.push(entry.version, entry.kind, entry.payload);
      }
      calls.push(
        redis.casSetMany(...args, ...keys, ...tail).then((reply) => {
          const epochNow = String(reply[0]);
          const fenced = reply.length === 2;
          for (let j = 0; j < count; j++) {
            const at = idx ? idx[from + j]! : from + j;
            replies[at] = fenced ? [2, 0, epochNow] : [reply[1 + 2 * j] as number, reply[2 + 2 * j] as number, epochNow];
          }
        }),
      );
    };
    if (layout.fences.length === 1) {
      for (let from = 0; from < items.length; from += putBatch) send(layout.fences[0]!, null, from, Math.min(items.length, from + putBatch));
    } else {
      const byBucket = new Map<number, number[]>();
      items.forEach(({ id }, i) => {
        const b = layout.bucketOf(id);
        const list = byBucket.get(b);
        if (list) list.push(i);
        else byBucket.set(b, [i]);
      });
      for (const [b, idx] of byBucket) {
        for (let from = 0; from < idx.length; from += putBatch) send(layout.fences[b]!, idx, from, Math.min(idx.length, from + putBatch));
      }
    }
    await Promise.all(calls);
    return replies;
  }

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
    stampOf(id) {
      usable();
      return stamps.next(layout.bucketOf(id));
    },
    async getStamped(id) {
      usable();
      const fence = fenceOf(id);
      // One MGET: the entry, its bucket's fence and change sequence share a slot.
      const [value, fenceValue, seq] = await redis.mget(key(id), fence, layout.sequenceOf(fence));
      return { entry: decodeEntry(value ?? null), stamp: toStamp(fence, fenceValue, seq) };
    },
    async getMany(ids) {
      usable();
      if (ids.length === 0) return [];
      if (layout.fences.length === 1) return (await redis.mget(ids.map(key))).map(decodeEntry);
      // A Cluster answers MGET only for keys of one slot: one MGET per bucket, all sent at once.
      const byBucket = new Map<number, number[]>();
      ids.forEach((id, i) => {
        const b = layout.bucketOf(id);
        const list = byBucket.get(b);
        if (list) list.push(i);
        else byBucket.set(b, [i]);
      });
      const out: (StoredEntry | null)[] = new Array(ids.length).fill(null);
      await Promise.all(
        [...byBucket.values()].map(async (idx) => {
          const values = await redis.mget(idx.map((i) => key(ids[i]!)));
          idx.forEach((i, j) => (out[i] = decodeEntry(values[j])));
        }),
      );
      return out;
    },
    async put(id, entry, writerEpoch) {
      usable();
      return afterWrite([await cas(id, entry, "set", writerEpoch)])[0]!;
    },
    async putMany(items, writerEpoch) {
      usable();
      if (items.length === 0) return [];
      return afterWrite(await setMany(items, writerEpoch));
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
      const code = await redis.replaceIfEqual(key(id), fenceOf(id), layout.sequenceOf(fenceOf(id)), encodeEntry(expected), entry.version, entry.kind, entry.payload, ttlMs, writerEpoch, layout.channel);
      if (code === 2) void verify();
      return code === 1 ? "replaced" : code === 2 ? "fenced" : "changed";
    },
    async acquireLease(id, token, ttl) {
      usable();
      return (await redis.set(layout.lease(id), token, "PX", ttl, "NX")) === "OK";
    },
    async releaseLease(id, token) {
      await redis.releaseLease(layout.lease(id), token);
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
