// Domain events of a product stream. `data` of ProductCreated is the full state, of ProductUpdated
// only the changed fields (`category: null` removes the category), of ProductDeleted empty.
import type { FieldChanges, ProductFields, ProductView } from "./product.ts";

export type { FieldChanges };

export const SCHEMA_VERSION = 1;

export type EventBody =
  | { type: "ProductCreated"; data: ProductFields }
  | { type: "ProductUpdated"; data: FieldChanges }
  | { type: "ProductDeleted"; data: Record<string, never> };

export type EventType = EventBody["type"];

export type ProductEvent = EventBody & {
  eventId: string;
  productId: string;
  version: number;
  schemaVersion: number;
  occurredAt: string;
};

/** What travels on Kafka: the event plus the product state after it (null after a delete). */
export type EventEnvelope = ProductEvent & { state: ProductView | null };

export const EVENT_TYPES: readonly EventType[] = ["ProductCreated", "ProductUpdated", "ProductDeleted"];
