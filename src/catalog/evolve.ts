// evolve(state, event) → state: how a product stream folds. Pure, and shared by the write path,
// the replay and the consumers.
import { SCHEMA_VERSION, type ProductEvent } from "./events.ts";
import type { ProductState } from "./product.ts";

// Written without intermediate objects (no `base`, no copy of the changes): the replay folds every
// event of the catalog. Each case gives exactly what the spreads in the comment give, keys in the
// same order (test/unit/evolve.test.ts holds it to them).
export function evolve(state: ProductState | null, event: ProductEvent): ProductState {
  switch (event.type) {
    case "ProductCreated":
      // { ...event.data, id, version, updatedAt, deleted: false, createdAt }
      return { ...event.data, id: event.productId, version: event.version, updatedAt: event.occurredAt, deleted: false, createdAt: event.occurredAt };
    case "ProductUpdated": {
      if (!state) throw new Error(`ProductUpdated v${event.version} of ${event.productId} without a prior state`);
      // { ...stateWithoutCategory, ...applyChanges(state, event.data), id, version, updatedAt }
      const changes = event.data;
      const { category: _drop, ...rest } = state;
      const next: ProductState = rest;
      next.name = changes.name ?? state.name;
      next.description = changes.description ?? state.description;
      next.priceCents = changes.priceCents ?? state.priceCents;
      next.currency = changes.currency ?? state.currency;
      const category = changes.category === undefined ? state.category : (changes.category ?? undefined);
      if (category !== undefined) next.category = category;
      next.id = event.productId;
      next.version = event.version;
      next.updatedAt = event.occurredAt;
      return next;
    }
    case "ProductDeleted":
      if (!state) throw new Error(`ProductDeleted v${event.version} of ${event.productId} without a prior state`);
      // { ...state, id, version, updatedAt, deleted: true }
      return { ...state, id: event.productId, version: event.version, updatedAt: event.occurredAt, deleted: true };
    default: {
      const unknownEvent: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknownEvent)}`);
    }
  }
}

export const fold = (events: readonly ProductEvent[], initial: ProductState | null = null): ProductState | null =>
  events.reduce<ProductState | null>(evolve, initial);

/**
 * `fold` of a product's whole stream, for a process that writes what it folds (the replay, its
 * snapshot repair). Throws unless the stream is versions 1..n, each of a schema version this code
 * knows: an event of a newer one (written by a newer api during a rolling deploy) would be folded
 * as something it is not. The consumers refuse such an event the same way (decode-event.ts,
 * "future-schema").
 */
export function foldKnown(events: readonly ProductEvent[]): ProductState {
  for (const e of events) {
    if (e.schemaVersion > SCHEMA_VERSION) {
      throw new Error(`event v${e.version} has schema version ${e.schemaVersion}, newer than ${SCHEMA_VERSION}, the newest this process reads: replay it with a newer version`);
    }
  }
  const state = fold(events);
  if (!state || state.version !== events.length) throw new Error(`versions are not 1..${events.length}`);
  return state;
}
