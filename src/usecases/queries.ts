// Reads: Redis first; on a miss (or a marker, or a version older than the client asked for) the
// snapshot from PostgreSQL, filled back through the compare-and-set so a late fill can never
// overwrite newer data. When Redis is away, reads are served from PostgreSQL alone.
import type { Logger } from "pino";
import { CatalogError } from "../catalog/errors.ts";
import type { ProductEvent } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";
import { absent, entryFor, isServable } from "./cache-entry.ts";
import { setTimeout as sleep } from "node:timers/promises";
import { noopObserver, ServiceUnavailableError, type CacheEntry, type CacheObserver, type ProductCache, type ProductSource, type StoredEntry } from "./ports.ts";

export type QueryDeps = {
  /** The truth on a miss: the event store (the catalog api), or the catalog api (another service). */
  store: ProductSource;
  cache: ProductCache;
  logger: Logger;
  observe?: CacheObserver;
  /**
   * Cross-process stampede protection: on a miss, one process takes a lease of `leaseMs` and
   * fills; the others poll the cache for up to `waitMs`, then read PostgreSQL themselves rather
   * than fail. `waitMs: 0` turns it off.
   */
  lease?: { leaseMs: number; waitMs: number; pollMs?: number };
  /** Cache "no such product" for ids PostgreSQL does not know (default true). */
  negativeCache?: boolean;
};

/**
 * `json` is the product's JSON exactly as cached, so a hit is served without re-encoding. `stored`
 * (a miss): after this read the cache holds this version or a newer one; false when the fill was
 * not made or did not land (the cache unusable, or fenced): a read PostgreSQL answered alone.
 */
export type ProductRead =
  | { found: true; version: number; json: string; cache: "hit" | "miss"; stored: boolean; l1?: true }
  /** `deletedAt`: the version of the deletion (a tombstone); absent for an id that never existed. */
  | { found: false; deletedAt?: number; cache: "hit" | "miss"; stored: boolean; l1?: true };

const fromEntry = (entry: CacheEntry & { l1?: true }, cache: "hit" | "miss", stored = true): ProductRead => {
  const read: ProductRead =
    entry.kind === "p"
      ? { found: true, version: entry.version, json: entry.payload, cache, stored }
      : entry.kind === "t"
        ? { found: false, deletedAt: entry.version, cache, stored }
        : { found: false, cache, stored };
  if (entry.l1) read.l1 = true; // answered by the process's near cache
  return read;
};

export function createQueries(deps: QueryDeps) {
  const { store, cache, logger } = deps;
  const observe = deps.observe ?? noopObserver;
  const lease = deps.lease ?? { leaseMs: 2000, waitMs: 200 };
  const negative = deps.negativeCache ?? true;
  // Concurrent misses on one key in this process share one database read and one fill.
  const inFlight = new Map<string, Promise<ProductRead>>();

  /**
   * Runs a cache call; when the cache is away, returns `fallback` instead (the read is then served
   * from PostgreSQL). During an outage every request fails over; one warning per interval says so.
   */
  let lastWarning = 0;
  let suppressed = 0;
  async function tryCache<T>(what: string, fallback: T, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      const now = Date.now();
      if (now - lastWarning >= 5000) {
        logger.warn({ err: (err as Error).message, op: what, suppressed }, "cache unavailable; serving from PostgreSQL");
        lastWarning = now;
        suppressed = 0;
      } else suppressed++;
      observe.fallback(what);
      return fallback;
    }
  }

  /**
   * Fills what was read from PostgreSQL after the fence epoch `epoch` was learnt (null: the cache
   * was not usable then, so nothing is filled). Refused when a newer version is cached, or when
   * the fence moved since: then the read may predate a loss of Redis data. Returns whether the
   * cache holds every entry's version (or a newer one) afterwards.
   */
  async function fillEntries(items: readonly { id: string; entry: CacheEntry }[], epoch: string | null): Promise<boolean> {
    if (items.length === 0) return true;
    if (epoch === null) return false;
    return tryCache("fill", false, async () => {
      const results = await cache.putMany(items, epoch);
      for (const r of results) observe.fill(r.outcome);
      return results.every((r) => r.outcome === "stored" || r.outcome === "older");
    });
  }
  const fill = (states: readonly ProductState[], epoch: string | null) => fillEntries(states.map((s) => ({ id: s.id, entry: entryFor(s) })), epoch);
  /** "No such product" for ids PostgreSQL does not know (version 0: their create replaces it). */
  const fillAbsent = (ids: readonly string[], epoch: string | null) => fillEntries(ids.map((id) => ({ id, entry: absent() })), epoch);

  async function readDatabase(id: string, atLeast?: number): Promise<ProductRead> {
    const epoch = cache.epoch(); // before the read: see fill
    const state = await store.loadState(id, atLeast);
    observe.dbRead(1);
    if (!state) {
      // Cached as "no such product" for a short while: a storm of unknown ids costs PostgreSQL one
      // read per id per CACHE_NEGATIVE_TTL_SECONDS, and the lease's waiters get the answer at once.
      return { found: false, cache: "miss", stored: negative ? await fillAbsent([id], epoch) : false };
    }
    const stored = await fill([state], epoch);
    // Serve what PostgreSQL said even when the fill was refused: it was current when read.
    return fromEntry(entryFor(state), "miss", stored);
  }

  /** Waits for the lease holder's fill; null when it did not come in time. */
  async function awaitFill(id: string, minVersion?: number): Promise<ProductRead | null> {
    const deadline = performance.now() + lease.waitMs;
    while (performance.now() < deadline) {
      await sleep(lease.pollMs ?? 5);
      const entry = await tryCache("get", null, () => cache.get(id));
      if (isServable(entry, cache.epoch(), minVersion)) return fromEntry(entry, "hit");
    }
    return null;
  }

  async function readThrough(id: string, minVersion?: number): Promise<ProductRead> {
    if (lease.waitMs <= 0) return readDatabase(id, minVersion);
    const token = crypto.randomUUID();
    const leased = await tryCache("lease", true, () => cache.acquireLease(id, token, lease.leaseMs));
    if (!leased) {
      const filled = await awaitFill(id, minVersion);
      observe.leaseWait(filled ? "filled" : "timeout");
      if (filled) return filled;
      return readDatabase(id, minVersion);
    }
    try {
      return await readDatabase(id, minVersion);
    } finally {
      void tryCache("release", undefined, () => cache.releaseLease(id, token));
    }
  }

  /**
   * A source that refuses to answer below the floor it was asked for (the catalog api, to another
   * service: VERSION_NOT_REACHED with the version it holds). Below the caller's own minVersion, that
   * is the caller's answer (412); below only what the cache announced, the source lags behind an
   * invalidation: unavailable, never served.
   */
  const belowFloor = (minVersion: number | undefined) => (err: unknown): never => {
    if (err instanceof CatalogError && err.code === "VERSION_NOT_REACHED") {
      const current = (err.details as { currentVersion?: number } | undefined)?.currentVersion ?? 0;
      if (minVersion === undefined || current >= minVersion) throw new ServiceUnavailableError("catalog", err); // the one source that refuses so
    }
    throw err;
  };

  return {
    /**
     * The near cache's answer, synchronously, or null (no near cache, or it cannot answer). The
     * route tries this first so that an L1 hit is answered without a promise on the hottest path.
     */
    peekProduct(id: string, minVersion?: number): ProductRead | null {
      const near = cache.peek?.(id, minVersion) ?? null;
      if (!near || !isServable(near, cache.epoch(), minVersion)) return null;
      observe.hit();
      return fromEntry(near, "hit");
    },

    async getProduct(id: string, minVersion?: number): Promise<ProductRead> {
      const near = this.peekProduct(id, minVersion);
      if (near) return near;
      const entry: StoredEntry | null = await tryCache("get", null, () => cache.get(id, minVersion));
      const seen = entry?.version ?? 0; // read before the guard narrows `entry`
      if (isServable(entry, cache.epoch(), minVersion)) {
        observe.hit();
        return fromEntry(entry, "hit");
      }
      observe.miss();
      // What the cache said exists (a marker of version N, or an entry from before a fence move) is
      // a floor for the read: a source that may lag (another service reading the catalog api) is
      // asked for that version or newer, so a fill never answers older than the invalidation.
      const atLeast = Math.max(minVersion ?? 0, seen) || undefined;
      // A caller that needs a minimum version must not join a read that may have started earlier.
      if (minVersion !== undefined) return readThrough(id, atLeast).catch(belowFloor(minVersion));
      const key = `${id}@${atLeast ?? 0}`;
      let flight = inFlight.get(key);
      if (!flight) {
        flight = readThrough(id, atLeast).finally(() => inFlight.delete(key));
        inFlight.set(key, flight);
      }
      return flight.catch(belowFloor(undefined));
    },

    /** Batch read: one MGET, one query for the misses, one pipelined fill. */
    async getProducts(ids: readonly string[]): Promise<{ items: string[]; missing: string[] }> {
      const unique = [...new Set(ids)];
      const entries = await tryCache("getMany", unique.map(() => null), () => cache.getMany(unique));
      const epoch = cache.epoch(); // learnt before the misses are read: see fill
      const byId = new Map<string, CacheEntry>();
      const misses: string[] = [];
      const floor = new Map<string, number>(); // what the cache said exists, as in getProduct
      unique.forEach((id, i) => {
        const e = entries[i] ?? null;
        if (isServable(e, epoch)) {
          byId.set(id, e);
          observe.hit();
        } else {
          misses.push(id);
          const announced = entries[i]?.version ?? 0; // `e` is narrowed to null here
          if (announced > 0) floor.set(id, announced);
          observe.miss();
        }
      });
      if (misses.length > 0) {
        const states = await store.loadStates(misses);
        observe.dbRead(misses.length);
        // A source that may lag answered below (or without) a version the cache announced: ask it
        // for that product alone, at least that version (it fails rather than answer older).
        const got = new Map(states.map((s) => [s.id, s]));
        const behind = [...floor].filter(([id, v]) => (got.get(id)?.version ?? 0) < v);
        for (const [id, v] of behind) {
          const state = await store.loadState(id, v).catch(belowFloor(undefined));
          observe.dbRead(1);
          if (state) got.set(id, state);
          else got.delete(id);
        }
        if (behind.length) states.splice(0, states.length, ...got.values());
        await fill(states, epoch);
        if (negative) {
          const known = new Set(states.map((s) => s.id));
          await fillAbsent(misses.filter((id) => !known.has(id)), epoch);
        }
        for (const s of states) byId.set(s.id, entryFor(s));
      }
      const items: string[] = [];
      const missing: string[] = [];
      for (const id of unique) {
        const e = byId.get(id);
        if (e?.kind === "p") items.push(e.payload);
        else missing.push(id);
      }
      return { items, missing };
    },

    history(id: string): Promise<ProductEvent[]> {
      return store.history(id);
    },
  };
}

export type Queries = ReturnType<typeof createQueries>;
