// How a product state becomes a cache entry. Shared by the API's write-through and fill, the
// consumers and the replay, so every writer stores byte-identical entries.
import { toView, type ProductState, type ProductView } from "../catalog/product.ts";
import type { CacheEntry } from "./ports.ts";

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
