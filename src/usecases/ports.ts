// The ports the use cases need. Adapters live in src/infra; tests may hand in their own.
import type { ProductEvent, EventEnvelope } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";

/** Raised by EventStore.append when another writer appended the same version first. */
export class ConcurrentAppendError extends Error {
  constructor(productId: string, version: number) {
    super(`version ${version} of ${productId} was appended concurrently`);
    this.name = "ConcurrentAppendError";
  }
}

/** A dependency (PostgreSQL) cannot be reached: the request may be retried (HTTP 503). */
export class ServiceUnavailableError extends Error {
  readonly dependency: string;
  constructor(dependency: string, cause: unknown) {
    super(`${dependency} is unavailable`, { cause });
    this.name = "ServiceUnavailableError";
    this.dependency = dependency;
  }
}

export interface EventStore {
  /** The product's current state from the snapshot row, tombstones included. */
  loadState(id: string): Promise<ProductState | null>;
  /** Many snapshots at once (batch reads); unknown ids are absent from the result. */
  loadStates(ids: readonly string[]): Promise<ProductState[]>;
  /**
   * One transaction: the events, the snapshot after them, and one outbox row per event.
   * Throws ConcurrentAppendError when a version is taken.
   */
  append(events: readonly ProductEvent[], next: ProductState, envelopes: readonly EventEnvelope[]): Promise<void>;
  history(id: string): Promise<ProductEvent[]>;
  ping(): Promise<void>;
}

/** What the replay reads and repairs; the events are the truth, the snapshot rows a projection. */
export interface ReplaySource {
  /** Distinct products that have events (all, or those of `only`). */
  countProducts(only?: readonly string[]): Promise<number>;
  /** Product ids with events, in id order, after `after` (keyset pagination). */
  productIdsAfter(after: string | null, limit: number): Promise<string[]>;
  /** Every event of these products, by product then version. */
  eventsOf(ids: readonly string[]): Promise<ProductEvent[]>;
  loadStates(ids: readonly string[]): Promise<ProductState[]>;
  /**
   * Writes these states into the snapshot table unless a newer event committed meanwhile (the
   * snapshot's version is above the state's and backed by an event). Returns the rows written.
   */
  repairSnapshots(states: readonly ProductState[]): Promise<number>;
  /** The highest event version of each product, read now. */
  maxVersions(ids: readonly string[]): Promise<Map<string, number>>;
}

export type CacheKind = "p" | "t" | "m";
/** One cache entry: a product ("p", payload = its JSON), a tombstone ("t") or a marker ("m"). */
export type CacheEntry = { version: number; kind: CacheKind; payload: string };
export type CasResult = { applied: boolean; version: number };

export interface ProductCache {
  /** null: no entry. Throws when the cache cannot be reached. */
  get(id: string): Promise<CacheEntry | null>;
  getMany(ids: readonly string[]): Promise<(CacheEntry | null)[]>;
  /** Compare-and-set: stores the entry only if it is newer than what the key holds. */
  put(id: string, entry: CacheEntry): Promise<CasResult>;
  putMany(items: readonly { id: string; entry: CacheEntry }[]): Promise<CasResult[]>;
  /** Raw stored values (replay compares them byte for byte). */
  getRaw(ids: readonly string[]): Promise<(string | null)[]>;
  /** Replaces a value only if it is still exactly `expected` (replay repairs; see the Lua file). */
  replaceIfEqual(id: string, expected: string, entry: CacheEntry): Promise<boolean>;
  /** A short lease that lets one process fill a missing key while the others wait. */
  acquireLease(id: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLease(id: string, token: string): Promise<void>;
  ping(): Promise<void>;
  /** Called whenever the connection to the cache is (re)established. */
  onReady(listener: () => void): void;
}

/** What the read path reports (metrics). Every method is optional to implement; see noopObserver. */
export type CacheObserver = {
  hit(): void;
  miss(): void;
  fill(applied: boolean): void;
  /** A miss that found another process filling the key: waited for it ("filled") or gave up ("timeout"). */
  leaseWait(outcome: "filled" | "timeout"): void;
  dbRead(rows: number): void;
  /** A Redis call failed and the request was served from PostgreSQL instead. */
  fallback(op: string): void;
};

export const noopObserver: CacheObserver = {
  hit() {},
  miss() {},
  fill() {},
  leaseWait() {},
  dbRead() {},
  fallback() {},
};
