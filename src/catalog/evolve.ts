// evolve(state, event) → state: how a product stream folds. Pure, and shared by the write path,
// the replay and the consumers.
import type { ProductEvent } from "./events.ts";
import { applyChanges, type ProductState } from "./product.ts";

export function evolve(state: ProductState | null, event: ProductEvent): ProductState {
  const base = { id: event.productId, version: event.version, updatedAt: event.occurredAt };
  switch (event.type) {
    case "ProductCreated":
      return { ...event.data, ...base, deleted: false, createdAt: event.occurredAt };
    case "ProductUpdated": {
      if (!state) throw new Error(`ProductUpdated v${event.version} of ${event.productId} without a prior state`);
      const { category: _drop, ...rest } = state;
      return { ...rest, ...applyChanges(state, event.data), ...base };
    }
    case "ProductDeleted":
      if (!state) throw new Error(`ProductDeleted v${event.version} of ${event.productId} without a prior state`);
      return { ...state, ...base, deleted: true };
    default: {
      const unknownEvent: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknownEvent)}`);
    }
  }
}

export const fold = (events: readonly ProductEvent[], initial: ProductState | null = null): ProductState | null =>
  events.reduce<ProductState | null>(evolve, initial);
