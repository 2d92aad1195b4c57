// How a product state becomes a cache entry, and which stored entries may be served. Shared by the
// API's write-through and fill, the consumers and the replay, so every writer stores
// byte-identical entries.
import { toView, type ProductState, type ProductView } from "../catalog/product.ts";
import type { CacheEntry, StoredEntry } from "./ports.ts";

export function entryFor(state: ProductState): CacheEntry {
  return state.deleted
    ? { version: state.version, kind: "t", payload: "" }
    : { version: state.version, kind: "p", payload: JSON.stringify(toView(state)) };
}

/**
 * The entry for a product view that travelled through the outbox (PostgreSQL's jsonb reorders
 * keys): rebuilt through toView so its bytes equal what the API itself stores.
 */
export function entryForView(view: ProductView): CacheEntry {
  return { version: view.version, kind: "p", payload: JSON.stringify(toView({ ...view, deleted: false, createdAt: view.updatedAt })) };
}

export const tombstone = (version: number): CacheEntry => ({ version, kind: "t", payload: "" });
export const marker = (version: number): CacheEntry => ({ version, kind: "m", payload: "" });
/** "No such product": version 0, so the create of the id (version 1) replaces it. */
export const absent = (): CacheEntry => ({ version: 0, kind: "n", payload: "" });

/**
 * Whether a stored entry may answer a read: real data (a product, a tombstone, or "no such
 * product"; not a marker),
 * written under the namespace's current fence epoch (an entry from before a detected loss of Redis
 * data may be older than what was served before the loss), and at least `minVersion` if given.
 */
export function isServable(entry: StoredEntry | null, epoch: string | null, minVersion?: number): entry is StoredEntry {
  return entry !== null && entry.kind !== "m" && epoch !== null && entry.epoch === epoch && (minVersion === undefined || entry.version >= minVersion);
}

/** The same entry without its stamp, for comparing what is stored with what should be. */
export const sameEntry = (a: CacheEntry, b: CacheEntry) => a.version === b.version && a.kind === b.kind && a.payload === b.payload;
