// How a product state becomes a cache entry. Shared by the API's write-through and fill, the
// consumers and the replay, so every writer stores byte-identical entries.
import { toView, type ProductState } from "../catalog/product.ts";
import type { CacheEntry } from "./ports.ts";

export function entryFor(state: ProductState): CacheEntry {
  return state.deleted
    ? { version: state.version, kind: "t", payload: "" }
    : { version: state.version, kind: "p", payload: JSON.stringify(toView(state)) };
}
