// Command handling, in three steps with one function each: a per-product queue (writes to one
// product through one instance never race each other), the decision and its append with a retry
// when another instance took the version, and the write-through of the committed state.
import { setTimeout as sleep } from "node:timers/promises";
import { CatalogError } from "../catalog/errors.ts";
import { decide, type Command, type DecideContext } from "../catalog/decide.ts";
import type { ProductState } from "../catalog/product.ts";
import type { CacheWriter } from "./cache-writer.ts";
import { afterEvents } from "./outbox-envelopes.ts";
import { ConcurrentAppendError, type EventStore } from "./ports.ts";

export type CommandDeps = {
  store: EventStore;
  writer: CacheWriter | null; // null: write-through switched off (the consumers alone fill caches)
  ctx: DecideContext;
  /** Appends tried per command before 409 CONFLICT_RETRY_EXHAUSTED (default 8). */
  maxAttempts?: number;
  /** The pause before retry `n` (default: random, up to 5 × n ms, to spread the contenders). */
  backoff?: (retry: number) => Promise<void>;
};

export type CommandResult = { state: ProductState; changed: boolean };

/** Runs tasks one after another per key; tasks of different keys run concurrently. */
export function createKeyedQueue() {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      const result = previous.then(task, task);
      const tail = result.catch(() => undefined);
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    /** Keys with queued or running tasks. */
    size: () => tails.size,
  };
}

/**
 * Returns the command executor of one app instance: commands on one product run in order through
 * its queue; only other instances can race for a version, and then the command is decided again on
 * the new state (an If-Match then fails with 412, a plain write applies on top).
 */
export function createCommandExecutor(deps: CommandDeps): (command: Command) => Promise<CommandResult> {
  const queue = createKeyedQueue();
  return (command) => queue.run(command.id, () => decideAndAppend(deps, command));
}

const randomBackoff = (retry: number) => sleep(Math.random() * 5 * retry);

async function decideAndAppend(deps: CommandDeps, command: Command): Promise<CommandResult> {
  const maxAttempts = deps.maxAttempts ?? 8;
  const backoff = deps.backoff ?? randomBackoff;
  for (let tries = 1; ; tries++) {
    // The fence epoch, learnt before the state is read and committed: a write-through under it is
    // refused if Redis lost data meanwhile (then only a marker goes in; see CacheWriter).
    const epoch = deps.writer?.epoch() ?? null;
    const state = await deps.store.loadState(command.id);
    const events = decide(command, state, deps.ctx);
    if (events.length === 0) return { state: state as ProductState, changed: false };
    const { next, envelopes } = afterEvents(state, events);
    try {
      await deps.store.append(events, next, envelopes);
    } catch (err) {
      if (!(err instanceof ConcurrentAppendError)) throw err;
      if (tries >= maxAttempts) throw new CatalogError("CONFLICT_RETRY_EXHAUSTED", 409, `product ${command.id} is being changed by others; retry`);
      await backoff(tries);
      continue;
    }
    await writeThrough(deps.writer, next, epoch);
    return { state: next, changed: true };
  }
}

/** After the commit: the new state into the api's own namespace (best effort; see CacheWriter). */
async function writeThrough(writer: CacheWriter | null, state: ProductState, epoch: string | null) {
  if (writer) await writer.write(state, epoch);
}
