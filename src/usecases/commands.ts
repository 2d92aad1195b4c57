// Command handling: load → decide → append (one transaction) → write-through.
import { setTimeout as sleep } from "node:timers/promises";
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
 * Returns the command executor of one app instance. Writes to one product through it run one after
 * another, so they never race each other for a version; only other instances can, and those
 * retry: the command is decided again on the new state (so an If-Match then fails with 412, and a
 * plain write applies on top), after a short random pause that spreads the contenders.
 */
export function createCommandExecutor(deps: CommandDeps): (command: Command) => Promise<CommandResult> {
  const queues = new Map<string, Promise<unknown>>();
  return (command) => {
    const previous = queues.get(command.id) ?? Promise.resolve();
    const run = () => attempt(deps, command);
    const result = previous.then(run, run);
    const tail = result.catch(() => undefined);
    queues.set(command.id, tail);
    void tail.then(() => {
      if (queues.get(command.id) === tail) queues.delete(command.id);
    });
    return result;
  };
}

async function attempt(deps: CommandDeps, command: Command): Promise<CommandResult> {
  const attempts = deps.maxAttempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    // The fence epoch, learnt before the state is read and committed: a write-through under it is
    // refused if Redis lost data meanwhile (then only a marker goes in; see CacheWriter).
    const epoch = deps.writer?.epoch() ?? null;
    const state = await deps.store.loadState(command.id);
    const events = decide(command, state, deps.ctx);
    if (events.length === 0) return { state: state as ProductState, changed: false };
    const { next, envelopes: env } = envelopes(events, state);
    try {
      await deps.store.append(events, next, env);
    } catch (err) {
      if (err instanceof ConcurrentAppendError && attempt < attempts) {
        await sleep(Math.random() * 5 * attempt);
        continue;
      }
      if (err instanceof ConcurrentAppendError) {
        throw new CatalogError("CONFLICT_RETRY_EXHAUSTED", 409, `product ${command.id} is being changed by others; retry`);
      }
      throw err;
    }
    if (deps.writer) await deps.writer.write(next, epoch);
    return { state: next, changed: true };
  }
}
