// What an append writes besides the events: the state after them (the snapshot row) and, per
// event, the envelope that goes through the outbox to Kafka (the event with the state after it,
// null once deleted), so a consumer never needs to read PostgreSQL.
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import { evolve } from "../catalog/evolve.ts";
import { toView, type ProductState } from "../catalog/product.ts";

/** The state after `events` (at least one) applied to `before`, and each event's envelope. */
export function afterEvents(before: ProductState | null, events: readonly ProductEvent[]): { next: ProductState; envelopes: EventEnvelope[] } {
  let state = before;
  const envelopes: EventEnvelope[] = [];
  for (const event of events) {
    state = evolve(state, event);
    envelopes.push({ ...event, state: state.deleted ? null : toView(state) });
  }
  if (!state) throw new Error("afterEvents needs at least one event");
  return { next: state, envelopes };
}
