// Replay: rebuild a cache namespace (and repair the snapshot table) from the event store. The
// events are the truth: each product's events are folded again, the snapshot row is rewritten if
// it differs, and the cache entry is written through the same compare-and-set as every other
// writer, pipelined per page. Safe while writes and consumers run: versions fence every write, so
// no entry ever goes back. Entries the compare-and-set cannot fix (a version no event ever had, or
// the right version with the wrong payload) are replaced only if still exactly as read.
import type { Logger } from "pino";
import type { ProductEvent } from "../catalog/events.ts";
import { fold } from "../catalog/evolve.ts";
import type { ProductState } from "../catalog/product.ts";
import { entryFor } from "./cache-entry.ts";
import type { CacheEntry, ProductCache, ReplaySource } from "./ports.ts";

export type ReplayCounts = {
  processed: number;
  snapshotsRepaired: number;
  cacheWritten: number; // missing, older, marker or unreadable entries replaced through the compare-and-set
  cacheRepaired: number; // impossible or wrong entries replaced
  cacheUnchanged: number;
  cacheNewer: number; // a write newer than the replayed events landed first: left alone
  errors: number;
};
export type ReplayError = { productId: string; message: string };

const serialize = (e: CacheEntry) => `${e.version}|${e.kind}|${e.payload}`;
const versionOf = (raw: string): number | null => {
  const m = /^(\d+)\|[ptm]\|/.exec(raw);
  return m ? Number(m[1]) : null;
};

function groupByProduct(events: readonly ProductEvent[]): Map<string, ProductEvent[]> {
  const out = new Map<string, ProductEvent[]>();
  for (const e of events) {
    const list = out.get(e.productId);
    if (list) list.push(e);
    else out.set(e.productId, [e]);
  }
  return out;
}

const sameSnapshot = (a: ProductState, b: ProductState) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

export type ReplayDeps = { source: ReplaySource; cache: ProductCache; logger: Logger };

/** Replays one page of product ids; returns how many of them have events. */
export async function replayPage(deps: ReplayDeps, ids: readonly string[], counts: ReplayCounts, errors: ReplayError[]): Promise<number> {
  const { source, cache } = deps;
  const byProduct = groupByProduct(await source.eventsOf(ids));
  counts.processed += byProduct.size;
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
  if (truth.length === 0) return byProduct.size;
  const truthIds = truth.map((s) => s.id);

  const snapshots = new Map((await source.loadStates(truthIds)).map((s) => [s.id, s]));
  const stale = truth.filter((s) => {
    const snap = snapshots.get(s.id);
    return !snap || !sameSnapshot(snap, s);
  });
  if (stale.length) counts.snapshotsRepaired += await source.repairSnapshots(stale);

  const current = await cache.getRaw(truthIds);
  const writes: { id: string; entry: CacheEntry }[] = [];
  const suspicious: { state: ProductState; raw: string; entry: CacheEntry }[] = [];
  truth.forEach((state, i) => {
    const entry = entryFor(state);
    const raw = current[i] ?? null;
    if (raw === serialize(entry)) {
      counts.cacheUnchanged++;
      return;
    }
    const v = raw === null ? null : versionOf(raw);
    const isMarker = raw !== null && v === state.version && raw.startsWith(`${v}|m|`);
    if (v === null || v < state.version || isMarker) writes.push({ id: state.id, entry });
    else suspicious.push({ state, raw: raw!, entry }); // same version, other bytes; or a higher version
  });

  const results = await cache.putMany(writes);
  results.forEach((r) => (r.applied ? counts.cacheWritten++ : counts.cacheNewer++));

  if (suspicious.length) {
    const max = await source.maxVersions(suspicious.map((s) => s.state.id));
    for (const { state, raw, entry } of suspicious) {
      const cachedVersion = versionOf(raw)!;
      const latest = max.get(state.id) ?? state.version;
      if (cachedVersion > state.version && cachedVersion <= latest) {
        counts.cacheNewer++; // a real write landed after the events were read
      } else if (await cache.replaceIfEqual(state.id, raw, entry)) {
        counts.cacheRepaired++;
      } else {
        counts.cacheNewer++; // changed under us: whoever wrote it went through the compare-and-set
      }
    }
  }
  return byProduct.size;
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
