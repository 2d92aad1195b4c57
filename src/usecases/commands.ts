// Command handling: load → decide → append (one transaction) → write-through.
import { CatalogError } from "../catalog/errors.ts";
import { decide, type Command, type DecideContext } from "../catalog/decide.ts";
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import { evolve } from "../catalog/evolve.ts";
import { toView, type ProductState } from "../catalog/product.ts";
import type { CacheWriter } from "./cache-writer.ts";
import { ConcurrentAppendError, type EventStore } from "./ports.ts";

export type CommandDeps = {
  store: EventStore;
  writer: CacheWriter | null; // null: write-through switched off (the consumers alone fill caches)
  ctx: DecideContext;
  maxAttempts?: number;
};

export type CommandResult = { state: ProductState; changed: boolean };

export function envelopes(events: readonly ProductEvent[], before: ProductState | null): { next: ProductState; envelopes: EventEnvelope[] } {
  let state = before;
  const out: EventEnvelope[] = [];
  for (const event of events) {
    state = evolve(state, event);
    out.push({ ...event, state: state.deleted ? null : toView(state) });
  }
  return { next: state as ProductState, envelopes: out };
}

/**
 * Runs a command. When another writer takes the same version first, the command is decided again
 * on the new state (so an If-Match then fails with 412, and a plain write applies on top).
 */
export async function executeCommand(deps: CommandDeps, command: Command): Promise<CommandResult> {
  const attempts = deps.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const state = await deps.store.loadState(command.id);
    const events = decide(command, state, deps.ctx);
    if (events.length === 0) return { state: state as ProductState, changed: false };
    const { next, envelopes: env } = envelopes(events, state);
    try {
      await deps.store.append(events, next, env);
    } catch (err) {
      if (err instanceof ConcurrentAppendError && attempt < attempts) continue;
      if (err instanceof ConcurrentAppendError) {
        throw new CatalogError("CONFLICT_RETRY_EXHAUSTED", 409, `product ${command.id} is being changed by others; retry`);
      }
      throw err;
    }
    if (deps.writer) await deps.writer.write(next);
    return { state: next, changed: true };
  }
}
