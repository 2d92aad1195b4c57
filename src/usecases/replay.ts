// Replay: rebuild a cache namespace (and repair the snapshot table) from the event store. The
// events are the truth: each product's events are folded again, the snapshot row is rewritten if
// it differs (under its row lock, see ReplaySource.repairSnapshots), and the cache entry is written
// through the same compare-and-set as every other writer, pipelined per page, under the fence
// epoch learnt before the page's events were read. Safe while writes and consumers run: versions
// fence every write, so no entry ever goes back, and a page that meets a moved fence (Redis lost
// data meanwhile) is read again. Entries the compare-and-set cannot fix (a version no event ever
// had, or the right version with the wrong payload) are replaced only if still exactly as read.
import type { Logger } from "pino";
import type { ProductEvent } from "../catalog/events.ts";
import { fold } from "../catalog/evolve.ts";
import { sameState, type ProductState } from "../catalog/product.ts";
import { entryFor, sameEntry } from "./cache-entry.ts";
import type { CacheEntry, ProductCache, ReplayCounts, ReplayError, ReplaySource, StoredEntry } from "./ports.ts";

export type { ReplayCounts, ReplayError };

function groupByProduct(events: readonly ProductEvent[]): Map<string, ProductEvent[]> {
  const out = new Map<string, ProductEvent[]>();
  for (const e of events) {
    const list = out.get(e.productId);
    if (list) list.push(e);
    else out.set(e.productId, [e]);
  }
  return out;
}

export type ReplayDeps = { source: ReplaySource; cache: ProductCache; logger: Logger };

/** How many times a page is read again when the fence moved under it, before the job fails. */
const FENCE_ROUNDS = 3;

/** The fence epoch to write under, waiting a while for the cache to be usable. */
async function epochOf(cache: ProductCache): Promise<string> {
  const now = cache.epoch();
  if (now !== null) return now;
  if (await cache.whenReady(10_000)) return cache.epoch()!;
  throw new Error("the cache is not usable (unreachable, or its fence not verified)");
}

/** Folds each product's events; products whose events do not fold are counted as errors. */
function foldAll(ids: readonly string[], byProduct: Map<string, ProductEvent[]>, counts: ReplayCounts, errors: ReplayError[]): ProductState[] {
  const truth: ProductState[] = [];
  for (const id of ids) {
    const events = byProduct.get(id);
    if (!events) continue; // asked for by id but has no events: reported as missing by the job
    try {
      const state = fold(events);
      if (!state || state.version !== events.length) throw new Error(`versions are not 1..${events.length}`);
      truth.push(state);
    } catch (err) {
      counts.errors++;
      errors.push({ productId: id, message: (err as Error).message });
    }
  }
  return truth;
}

/** Replays one page of product ids; returns how many of them have events. */
export async function replayPage(deps: ReplayDeps, ids: readonly string[], counts: ReplayCounts, errors: ReplayError[]): Promise<number> {
  const { source, cache } = deps;
  let epoch = await epochOf(cache); // before the events are read: see ProductCache.put
  const byProduct = groupByProduct(await source.eventsOf(ids));
  counts.processed += byProduct.size;
  let truth = foldAll(ids, byProduct, counts, errors);
  if (truth.length === 0) return byProduct.size;

  const snapshots = new Map((await source.loadStates(truth.map((s) => s.id))).map((s) => [s.id, s]));
  const stale = truth.filter((s) => {
    const snap = snapshots.get(s.id);
    return !snap || !sameState(snap, s);
  });
  if (stale.length) counts.snapshotsRepaired += await source.repairSnapshots(stale);

  for (let round = 1; ; round++) {
    const tally = { written: 0, repaired: 0, unchanged: 0, newer: 0 };
    if (!(await writeCache(deps, truth, epoch, tally))) {
      counts.cacheWritten += tally.written;
      counts.cacheRepaired += tally.repaired;
      counts.cacheUnchanged += tally.unchanged;
      counts.cacheNewer += tally.newer;
      return byProduct.size;
    }
    // The fence moved: Redis lost data after the events were read. Read them again under the new epoch.
    if (round === FENCE_ROUNDS) throw new Error(`the cache fence moved ${FENCE_ROUNDS} times during one page; Redis keeps losing data`);
    deps.logger.warn({ round }, "the cache fence moved during a replay page; reading the page again");
    epoch = await epochOf(cache);
    const again = groupByProduct(await source.eventsOf(truth.map((s) => s.id)));
    truth = foldAll(truth.map((s) => s.id), again, emptyCounts(), []);
  }
}

/** Writes one page's states into the cache; returns true when the fence moved (nothing counted then). */
async function writeCache(
  deps: ReplayDeps,
  truth: readonly ProductState[],
  epoch: string,
  tally: { written: number; repaired: number; unchanged: number; newer: number },
): Promise<boolean> {
  const { source, cache } = deps;
  const current = await cache.getMany(truth.map((s) => s.id));
  const writes: { id: string; entry: CacheEntry }[] = [];
  const suspicious: { state: ProductState; stored: StoredEntry; entry: CacheEntry }[] = [];
  truth.forEach((state, i) => {
    const entry = entryFor(state);
    const stored = current[i] ?? null;
    if (stored && sameEntry(stored, entry) && stored.epoch === epoch) tally.unchanged++;
    else if (!stored || stored.version < state.version || (stored.version === state.version && (stored.kind === "m" || stored.epoch !== epoch))) {
      writes.push({ id: state.id, entry });
    } else suspicious.push({ state, stored, entry }); // same version, other bytes; or a higher version
  });

  const results = await cache.putMany(writes, epoch);
  if (results.some((r) => r.outcome === "fenced")) return true;
  for (const r of results) r.applied ? tally.written++ : tally.newer++;

  if (suspicious.length) {
    const max = await source.maxVersions(suspicious.map((s) => s.state.id));
    for (const { state, stored, entry } of suspicious) {
      const latest = max.get(state.id) ?? state.version;
      if (stored.version > state.version && stored.version <= latest) {
        tally.newer++; // a real write landed after the events were read
        continue;
      }
      const outcome = await cache.replaceIfEqual(state.id, stored, entry, epoch);
      if (outcome === "fenced") return true;
      if (outcome === "replaced") tally.repaired++;
      else tally.newer++; // changed under us: whoever wrote it went through the compare-and-set
    }
  }
  return false;
}

export const emptyCounts = (): ReplayCounts => ({
  processed: 0,
  snapshotsRepaired: 0,
  cacheWritten: 0,
  cacheRepaired: 0,
  cacheUnchanged: 0,
  cacheNewer: 0,
  errors: 0,
});

/**
 * Replays every product (ids absent) or the given ones, page by page, reporting after each page.
 * Returns how many of the asked-for ids have no events.
 */
export async function replay(
  deps: ReplayDeps,
  scope: { ids?: readonly string[]; pageSize?: number },
  report: (counts: ReplayCounts, errors: readonly ReplayError[], total: number) => Promise<void> | void,
  shouldStop: () => boolean = () => false,
): Promise<{ counts: ReplayCounts; errors: ReplayError[]; total: number; missing: number }> {
  const pageSize = scope.pageSize ?? 500;
  const counts = emptyCounts();
  const errors: ReplayError[] = [];
  const only = scope.ids ? [...new Set(scope.ids)] : undefined;
  const total = await deps.source.countProducts(only);
  let missing = 0;
  await report(counts, errors, total);
  if (only) {
    for (let i = 0; i < only.length && !shouldStop(); i += pageSize) {
      const page = only.slice(i, i + pageSize);
      missing += page.length - (await replayPage(deps, page, counts, errors));
      await report(counts, errors, total);
    }
  } else {
    let after: string | null = null;
    while (!shouldStop()) {
      const page = await deps.source.productIdsAfter(after, pageSize);
      if (page.length === 0) break;
      await replayPage(deps, page, counts, errors);
      after = page.at(-1)!;
      await report(counts, errors, total);
    }
  }
  return { counts, errors, total, missing };
}
