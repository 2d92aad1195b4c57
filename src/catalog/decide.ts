// decide(command, state) → events: the whole of the catalog's write rules, pure. The clock and the
// id generator come in through `ctx`, so tests assert exact events.
import { alreadyExists, notFound, versionConflict } from "./errors.ts";
import { SCHEMA_VERSION, type EventBody, type FieldChanges, type ProductEvent } from "./events.ts";
import { applyChanges, type ProductFields, type ProductState } from "./product.ts";

export type Command =
  | { type: "CreateProduct"; id: string; fields: ProductFields }
  | { type: "ReplaceProduct"; id: string; fields: ProductFields; expectedVersion?: number }
  | { type: "PatchProduct"; id: string; changes: FieldChanges; expectedVersion?: number }
  | { type: "DeleteProduct"; id: string; expectedVersion?: number };

export type DecideContext = { now: () => Date; newId: () => string };

const FIELDS = ["name", "description", "priceCents", "currency", "category"] as const;

/** Fields whose value differs between the current state and the requested one. */
function changedFields(state: ProductState, next: ProductFields): FieldChanges {
  const changes: FieldChanges = {};
  for (const f of FIELDS) {
    if (state[f] === next[f]) continue;
    if (f === "category") changes.category = next.category ?? null;
    else (changes as Record<string, unknown>)[f] = next[f];
  }
  return changes;
}

function requireLive(id: string, state: ProductState | null, expectedVersion?: number): ProductState {
  if (!state || state.deleted) throw notFound(id);
  if (expectedVersion !== undefined && expectedVersion !== state.version) {
    throw versionConflict(id, expectedVersion, state.version);
  }
  return state;
}

/**
 * Returns the events a command produces; an empty list when the command changes nothing (a PUT or
 * PATCH with the current values is idempotent and costs no version). Throws CatalogError when the
 * command is refused.
 */
export function decide(command: Command, state: ProductState | null, ctx: DecideContext): ProductEvent[] {
  const emit = (body: EventBody): ProductEvent[] => [
    {
      ...body,
      eventId: ctx.newId(),
      productId: command.id,
      version: (state?.version ?? 0) + 1,
      schemaVersion: SCHEMA_VERSION,
      occurredAt: ctx.now().toISOString(),
    } as ProductEvent,
  ];

  switch (command.type) {
    case "CreateProduct":
      // A deleted id may be created again: the stream goes on, so its versions keep fencing caches.
      if (state && !state.deleted) throw alreadyExists(command.id, state.version);
      return emit({ type: "ProductCreated", data: command.fields });
    case "ReplaceProduct": {
      const live = requireLive(command.id, state, command.expectedVersion);
      const changes = changedFields(live, command.fields);
      return Object.keys(changes).length ? emit({ type: "ProductUpdated", data: changes }) : [];
    }
    case "PatchProduct": {
      const live = requireLive(command.id, state, command.expectedVersion);
      const changes = changedFields(live, applyChanges(live, command.changes));
      return Object.keys(changes).length ? emit({ type: "ProductUpdated", data: changes }) : [];
    }
    case "DeleteProduct":
      requireLive(command.id, state, command.expectedVersion);
      return emit({ type: "ProductDeleted", data: {} });
    default: {
      const unknownCommand: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknownCommand)}`);
    }
  }
}

