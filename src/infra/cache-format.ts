// What catalog-cache keeps in Redis, in one place: the key names and the encoding of an entry and
// of a namespace's fence. The Lua scripts in lua/ read and write the same format (their headers
// say so); everything in TypeScript that reads or writes raw Redis values goes through here.
//
// Entry:  "<version>|<kind>|<epoch>|<payload>"
//   kind   p product (payload: its JSON), t tombstone (deleted), m invalidation marker,
//          n no such product (version 0: an id that was never created; a short TTL)
//   epoch  the fence epoch of the namespace when the entry was written ("-": the fence was missing)
// Fence:  "<epoch>|<run_id>"  (one key per namespace, no expiry)
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
/** Prefix of every entry key of a namespace (for SCAN MATCH). */
export const entryKeyPattern = (prefix: string, namespace: string) => `${prefix}:${namespace}:product:*`;

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
