// Replay: rebuild a cache namespace (and repair the snapshot table) from the event store. The
// events are the truth: each product's events are folded again, the snapshot row is rewritten if
// it differs (under its row lock, see ReplaySource.repairSnapshots), and the cache entry is written
// through the same compare-and-set as every other writer, pipelined per page, under the fence
// epoch learnt before the page's events were read. Safe while writes and consumers run: versions
// fence every write, so no entry ever goes back, and a page that meets a moved fence (Redis lost
// data meanwhile) is read again. Entries the compare-and-set cannot fix (a version no event ever
// had, or the right version with the wrong payload) are replaced only if still exactly as read.
//
// A full replay reads one stream (ReplaySource.streamProducts: every product in id order with its
// events and snapshot row, from one view of the database taken after the epoch was learnt) and
// writes pages k-1 and k while page k+1 is read (two pages in flight: Redis runs one page's
// scripts while this thread folds the next). A page whose write meets a moved fence ends the
// stream; a new one, under the new epoch, starts again at that page. A stream older than VIEW_MS
// ends too, after its pages in flight, and a new one (a new epoch, a new view) goes on from there,
// so no transaction stays open for the whole replay of a large catalog. Listed ids are replayed
// page by page (replayPage), each page's events read by id.
import type { Logger } from "pino";
import type { ProductEvent } from "../catalog/events.ts";
import { foldKnown } from "../catalog/evolve.ts";
import { sameState, type ProductState } from "../catalog/product.ts";
import { entryFor, sameEntry } from "./cache-entry.ts";
import type { CacheEntry, ProductCache, ReplayCounts, ReplayError, ReplaySource, StoredEntry, StreamedProduct } from "./ports.ts";

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
      const state = foldKnown(events);
      truth.push(state);
    } catch (err) {
      counts.errors++;
      errors.push({ productId: id, message: (err as Error).message });
    }
  }
  return truth;
}

/** Replays one page of product ids; returns how many of them have events. */
export async function replayPage(deps: ReplayDeps, ids: readonly string[], counts: ReplayCounts, errors: ReplayError[], found?: Set<string>): Promise<number> {
  const { source, cache } = deps;
  let epoch = await epochOf(cache); // before the events are read: see ProductCache.put
  const byProduct = groupByProduct(await source.eventsOf(ids));
  counts.processed += byProduct.size;
  for (const id of byProduct.keys()) found?.add(id);
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
    const outcomes = await Promise.all(
      suspicious.map(({ state, stored, entry }) => {
        const latest = max.get(state.id) ?? state.version;
        // A real write landed after the events were read: left alone.
        if (stored.version > state.version && stored.version <= latest) return "newer" as const;
        return cache.replaceIfEqual(state.id, stored, entry, epoch);
      }),
    );
    if (outcomes.includes("fenced")) return true;
    // "changed": changed under us; whoever wrote it went through the compare-and-set.
    for (const outcome of outcomes) outcome === "replaced" ? tally.repaired++ : tally.newer++;
  }
  return false;
}

/** What one streamed page did; counted by the caller once the page is known not to be read again. */
type PageOutcome = {
  fenced: boolean;
  lastId: string;
  products: number;
  snapshotsRepaired: number;
  tally: { written: number; repaired: number; unchanged: number; newer: number };
  errors: ReplayError[];
};

/**
 * One page of the stream: folds each product, repairs the snapshot rows that differ from the
 * events and writes the cache entries (both at once), under `epoch`, learnt before the stream began.
 */
async function streamedPage(deps: ReplayDeps, page: readonly StreamedProduct[], epoch: string): Promise<PageOutcome> {
  const truth: ProductState[] = [];
  const stale: ProductState[] = [];
  const errors: ReplayError[] = [];
  for (const { id, events, snapshot } of page) {
    try {
      const state = foldKnown(events);
      truth.push(state);
      if (!snapshot || !sameState(snapshot, state)) stale.push(state);
    } catch (err) {
      errors.push({ productId: id, message: (err as Error).message });
    }
  }
  const tally = { written: 0, repaired: 0, unchanged: 0, newer: 0 };
  const [snapshotsRepaired, fenced] = await Promise.all([
    stale.length ? deps.source.repairSnapshots(stale) : 0,
    truth.length ? writeCache(deps, truth, epoch, tally) : false,
  ]);
  return { fenced, lastId: page.at(-1)!.id, products: page.length, snapshotsRepaired, tally, errors };
}

/**
 * How long one stream (one transaction, one view of the database) lasts before the replay goes on
 * in a new one: a REPEATABLE READ transaction holds back PostgreSQL's cleanup of every table (the
 * outbox's deleted rows among them) for as long as it is open, and a catalog of millions of
 * products takes minutes.
 */
export const VIEW_MS = 30_000;

/** Pages being written at once (in stream order; one is read meanwhile). */
const WRITES_IN_FLIGHT = 2;

/** Error samples kept in memory (all are counted); a catalog of broken streams must not fill the heap. */
const MAX_ERRORS = 1000;

/**
 * Streams products after `from` under `epoch`, writing up to WRITES_IN_FLIGHT pages while the next
 * is read; `done` is called for each page in order, a fenced one included (it will be read again,
 * and so will every page written after it: each of those is passed as fenced too). Returns where
 * it stopped: the end, a stop request (the pages in flight finished and counted), a view older
 * than `viewMs` ("renew": the pages in flight finished, `after` the last product done), or a page
 * whose write was fenced (then `after` is the last product done before it).
 */
async function streamFrom(
  deps: ReplayDeps,
  from: string | null,
  epoch: string,
  pageSize: number,
  viewMs: number,
  done: (page: PageOutcome) => Promise<void>,
  shouldStop: () => boolean,
): Promise<{ end: "done" | "stopped" | "fenced" | "renew"; after: string | null }> {
  const opened = performance.now();
  let started = 0;
  let after = from;
  const writing: Promise<PageOutcome>[] = [];
  /** Waits for the oldest page in flight; true when its write was fenced. */
  const settle = async () => {
    const page = await writing.shift()!;
    await done(page);
    if (!page.fenced) {
      after = page.lastId;
      return false;
    }
    // The pages written after it are read again too; what they did to snapshot rows is counted.
    for (const later of writing.splice(0)) {
      const outcome = await later.catch(() => null);
      if (outcome) await done({ ...outcome, fenced: true });
    }
    return true;
  };
  const settleAll = async () => {
    while (writing.length) if (await settle()) return true;
    return false;
  };
  try {
    for await (const page of deps.source.streamProducts(from, pageSize)) {
      // Here page k+1 has been read while pages k-1 and k were written.
      while (writing.length >= WRITES_IN_FLIGHT) if (await settle()) return { end: "fenced", after };
      if (shouldStop()) return { end: (await settleAll()) ? "fenced" : "stopped", after };
      // The view is old enough: finish what is in flight, and go on in a new one (this page with it).
      if (started > 0 && performance.now() - opened >= viewMs) return { end: (await settleAll()) ? "fenced" : "renew", after };
      started++;
      const next = streamedPage(deps, page, epoch);
      next.catch(() => {}); // settled (and thrown) above, while the stream reads the next page
      writing.push(next);
    }
    return { end: (await settleAll()) ? "fenced" : "done", after };
  } finally {
    await Promise.allSettled(writing); // nothing of this stream runs on after it
  }
}

/** A full replay: every product, streamed; see the header. */
async function replayAll(
  deps: ReplayDeps,
  pageSize: number,
  viewMs: number,
  counts: ReplayCounts,
  errors: ReplayError[],
  report: () => Promise<void>,
  shouldStop: () => boolean,
): Promise<void> {
  const done = async (page: PageOutcome) => {
    counts.snapshotsRepaired += page.snapshotsRepaired; // written, whatever became of the cache write
    if (page.fenced) return; // read again: counted then
    counts.processed += page.products;
    counts.errors += page.errors.length;
    errors.push(...page.errors.slice(0, Math.max(0, MAX_ERRORS - errors.length)));
    counts.cacheWritten += page.tally.written;
    counts.cacheRepaired += page.tally.repaired;
    counts.cacheUnchanged += page.tally.unchanged;
    counts.cacheNewer += page.tally.newer;
    await report();
  };
  let after: string | null = null;
  let rounds = 0;
  for (;;) {
    const epoch = await epochOf(deps.cache); // before the stream's view is taken: see ProductCache.put
    const from = after;
    const result = await streamFrom(deps, from, epoch, pageSize, viewMs, done, shouldStop);
    if (result.end === "done" || result.end === "stopped") return;
    if (result.end === "renew") {
      // A new view, and a new epoch learnt before it, from where this one got to.
      after = result.after;
      rounds = 0;
      continue;
    }
    // The fence moved: Redis lost data after the events were read. Read them again under the new epoch.
    after = result.after;
    rounds = after === from ? rounds + 1 : 1;
    if (rounds === FENCE_ROUNDS) throw new Error(`the cache fence moved ${FENCE_ROUNDS} times during one page; Redis keeps losing data`);
    deps.logger.warn({ round: rounds, after }, "the cache fence moved during a replay page; reading the stream again from that page");
  }
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

/** How many of the ids without events a job names (all are counted). */
export const MISSING_IDS_KEPT = 100;

/**
 * Replays every product (ids absent) or the given ones, page by page, reporting after each page.
 * Returns how many of the asked-for ids have no events, and which. Error samples: the first 1,000 (all counted).
 */
export async function replay(
  deps: ReplayDeps,
  scope: { ids?: readonly string[]; pageSize?: number; viewMs?: number },
  report: (counts: ReplayCounts, errors: readonly ReplayError[], total: number) => Promise<void> | void,
  shouldStop: () => boolean = () => false,
): Promise<{ counts: ReplayCounts; errors: ReplayError[]; total: number; missing: number; missingIds: string[] }> {
  const pageSize = scope.pageSize ?? 1000;
  const counts = emptyCounts();
  const errors: ReplayError[] = [];
  const only = scope.ids ? [...new Set(scope.ids)] : undefined;
  if (only) {
    // The total is what was asked for; the ids without events are named (the first MISSING_IDS_KEPT).
    const total = only.length;
    const missingIds: string[] = [];
    let missing = 0;
    await report(counts, errors, total);
    for (let i = 0; i < only.length && !shouldStop(); i += pageSize) {
      const page = only.slice(i, i + pageSize);
      const found = new Set<string>();
      await replayPage(deps, page, counts, errors, found);
      for (const id of page) {
        if (found.has(id)) continue;
        missing++;
        if (missingIds.length < MISSING_IDS_KEPT) missingIds.push(id);
      }
      await report(counts, errors, total);
    }
    return { counts, errors, total, missing, missingIds };
  }
  // Counted while the stream starts (the first report waits for it).
  let total = 0;
  const counted = deps.source.countProducts().then((n) => void (total = n));
  counted.catch(() => {});
  await replayAll(deps, pageSize, scope.viewMs ?? VIEW_MS, counts, errors, async () => {
    await counted;
    await report(counts, errors, total);
  }, shouldStop);
  await counted;
  return { counts, errors, total, missing: 0, missingIds: [] };
}
