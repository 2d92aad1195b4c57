// What catalog-cache keeps in Redis, in one place: the key names and the encoding of an entry and
// of a namespace's fence. The Lua scripts in lua/ read and write the same format (their headers
// say so); everything in TypeScript that reads or writes raw Redis values goes through here.
//
// Entry:  "<version>|<kind>|<epoch>|<payload>"
//   kind   p product (payload: its JSON), t tombstone (deleted), m invalidation marker,
//          n no such product (version 0: an id that was never created; a short TTL)
//   epoch  the fence epoch of the namespace when the entry was written ("-": the fence was missing)
// Fence:  "<epoch>|<run_id>"  (one key per namespace, or one per bucket on a Redis Cluster; no expiry)
//   epoch  lower-case base 36, made by lua/fence-1.lua when it arms the fence
//   run_id the Redis server's run_id when the fence was armed: another one means that the server
//          restarted or that a replica took over, and either may have lost writes
import type { CacheKind, StoredEntry } from "../usecases/ports.ts";

/** Key of a product's entry. The hash tag keeps the entry and its lease in one Cluster slot. */
export const cacheKey = (prefix: string, namespace: string, id: string) => `${prefix}:${namespace}:product:{${id}}`;
/** Key of the fill lease of a product (same hash tag, so same slot as the entry). */
export const leaseKey = (prefix: string, namespace: string, id: string) => `${prefix}:${namespace}:lease:{${id}}`;
/** Key of a namespace's fence. */
export const fenceKey = (prefix: string, namespace: string) => `${prefix}:${namespace}:fence`;

// On a Redis Cluster a script may only touch keys of one slot, and every write of an entry reads
// the fence. So there the namespace is split into CLUSTER_BUCKETS buckets, each with its own hash
// tag and its own fence key: a product's entry, its lease and its bucket's fence share one slot,
// and the buckets spread the namespace over every master. All the fences of a namespace hold the
// same epoch (redis-cache.ts keeps them in step), so the rest of the code still sees one epoch.
export const CLUSTER_BUCKETS = 128;

/** Where a namespace's keys live: one layout for a single server, another for a Redis Cluster. */
export type KeyLayout = {
  entry(id: string): string;
  lease(id: string): string;
  /** Every fence key of the namespace (one on a single server). */
  fences: readonly string[];
  /** Index into `fences` of the bucket holding `id`. */
  bucketOf(id: string): number;
  /** The change sequence beside a fence (same slot): counts the changes published under it. */
  sequenceOf(fence: string): string;
  /** The channel every change of the namespace's entries is published on (near caches listen). */
  channel: string;
  /** The product id of an entry key of this layout; null for any other key. */
  idOfKey(key: string): string | null;
};

/** FNV-1a over the id's UTF-16 code units: a stable, even spread of ids over the buckets. */
function bucketHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function keyLayout(prefix: string, namespace: string, cluster: boolean): KeyLayout {
  const channel = `${prefix}:${namespace}:changes`;
  const sequenceOf = (fence: string) => `${fence}:seq`;
  if (!cluster) {
    const fence = fenceKey(prefix, namespace);
    const head = `${prefix}:${namespace}:product:{`;
    return {
      entry: (id) => cacheKey(prefix, namespace, id),
      lease: (id) => leaseKey(prefix, namespace, id),
      fences: [fence],
      bucketOf: () => 0,
      sequenceOf,
      channel,
      idOfKey: (key) => (key.startsWith(head) && key.endsWith("}") ? key.slice(head.length, -1) : null),
    };
  }
  // The hash tag is the first {...} of a key: the prefix and namespace never hold braces (config.ts).
  const tag = (b: number) => `{${prefix}:${namespace}:${b}}`;
  const bucketOf = (id: string) => bucketHash(id) % CLUSTER_BUCKETS;
  const head = `${prefix}:${namespace}:product:{${prefix}:${namespace}:`;
  return {
    entry: (id) => `${prefix}:${namespace}:product:${tag(bucketOf(id))}:${id}`,
    lease: (id) => `${prefix}:${namespace}:lease:${tag(bucketOf(id))}:${id}`,
    fences: Array.from({ length: CLUSTER_BUCKETS }, (_, b) => `${prefix}:${namespace}:fence:${tag(b)}`),
    bucketOf,
    sequenceOf,
    channel,
    idOfKey: (key) => {
      if (!key.startsWith(head)) return null;
      const close = key.indexOf("}:", head.length);
      return close < 0 ? null : key.slice(close + 2);
    },
  };
}

/** Orders two epochs (base 36 without leading zeros: by length, then by character). */
export function compareEpochs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const ENTRY = /^(\d{1,15})\|([ptmn])\|([0-9a-z]+|-)\|/;
const FENCE = /^([0-9a-z]+)\|([0-9a-f]+)$/;

export function encodeEntry(e: StoredEntry): string {
  return `${e.version}|${e.kind}|${e.epoch}|${e.payload}`;
}

/** null for no value and for a value that does not parse (a miss; any writer may overwrite it). */
export function decodeEntry(raw: string | null | undefined): StoredEntry | null {
  if (raw === null || raw === undefined) return null;
  const m = ENTRY.exec(raw);
  if (!m) return null;
  const version = Number(m[1]);
  if (version < 1 && !(version === 0 && m[2] === "n")) return null;
  return { version, kind: m[2] as CacheKind, epoch: m[3]!, payload: raw.slice(m[0].length) };
}

export function decodeFence(raw: string | null | undefined): { epoch: string; runId: string } | null {
  const m = raw ? FENCE.exec(raw) : null;
  return m ? { epoch: m[1]!, runId: m[2]! } : null;
}

// Heartbeats: one key per running process (api, relay, consumer, storefront), a JSON value (see
// src/infra/heartbeat.ts), written every HEARTBEAT_INTERVAL_MS with a TTL of three intervals and
// deleted on a graceful stop, so a key outlives a killed process by at most its TTL.
//   "<prefix>:procs:<role>:<instance>"   instance: CONSUMER_INSTANCE_ID, else "<hostname>-<pid>"
/** Key of a process's heartbeat. */
export const processKey = (prefix: string, role: string, instance: string) => `${prefix}:procs:${role}:${instance}`;
/**
 * The index of the heartbeat keys: a sorted set of the keys, scored by when each expires (ms), so
 * listing the processes reads one key instead of scanning the keyspace (which holds every cache
 * entry). Entries past their score are dropped by whoever lists.
 */
export const processIndexKey = (prefix: string) => `${prefix}:procs`;

// Dead letters, as the consumers record them beside the dead-letter topic (src/infra/dead-letters.ts),
// so the api's console can show them without a Kafka client. One hash tag: one slot, one MULTI.
//   "<prefix>:deadletters:{<prefix>:dl}:latest"  list of JSON records, newest first (the last 100)
//   "<prefix>:deadletters:{<prefix>:dl}:counts"  hash: reason → how many were dead-lettered
export const deadLetterKeys = (prefix: string) => ({
  latest: `${prefix}:deadletters:{${prefix}:dl}:latest`,
  counts: `${prefix}:deadletters:{${prefix}:dl}:counts`,
  /** When this Redis began to hold the view (ISO 8601): it starts again after a restart or flush. */
  since: `${prefix}:deadletters:{${prefix}:dl}:since`,
});
