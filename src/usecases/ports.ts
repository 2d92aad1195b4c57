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

/**
 * Where a read path gets the truth on a miss: the event store for the catalog api; the catalog
 * api itself for another service (src/infra/catalog-client.ts), which may lag behind the events.
 */
export interface ProductSource {
  /**
   * The product's current state, tombstones included; null when unknown. `atLeast`: the caller
   * knows version N exists (an invalidation marker said so); a source that may lag must answer N
   * or newer, or fail. The event store is the truth and is always there already.
   */
  loadState(id: string, atLeast?: number): Promise<ProductState | null>;
  /** Many states at once (batch reads); unknown ids are absent from the result. */
  loadStates(ids: readonly string[]): Promise<ProductState[]>;
  history(id: string): Promise<ProductEvent[]>;
  ping(): Promise<void>;
}

export interface EventStore extends ProductSource {
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
   * Makes the snapshot rows of these products equal to their events, in one transaction that locks
   * the rows first (a live write holding one commits before) and then reads the newest versions:
   * a state folded before a write committed is folded again from the events, never written back.
   * Returns the rows written.
   */
  repairSnapshots(states: readonly ProductState[]): Promise<number>;
  /** The highest event version of each product, read now. */
  maxVersions(ids: readonly string[]): Promise<Map<string, number>>;
  /**
   * Every product with events whose id sorts after `after` (all when null), in id order, each with
   * all its events (by version) and its snapshot row (null when it has none), in pages of
   * `pageSize` products (the last may be shorter). Read through one streaming query on one view of
   * the database, taken when the iteration starts (so after anything the caller learnt before it
   * began, a fence epoch for one): writes that commit later are not seen. Memory holds a page or
   * two however many products there are; ending the iteration early (break, throw) ends the query.
   */
  streamProducts(after: string | null, pageSize: number): AsyncIterable<StreamedProduct[]>;
}

/** One product as ReplaySource.streamProducts reads it: its events and its snapshot row, from one view. */
export type StreamedProduct = { id: string; events: ProductEvent[]; snapshot: ProductState | null };

/** What a replay did, counted per product and entry. */
export type ReplayCounts = {
  processed: number;
  snapshotsRepaired: number;
  cacheWritten: number; // missing, older, marker, unreadable or other-epoch entries replaced through the compare-and-set
  cacheRepaired: number; // impossible or wrong entries replaced
  cacheUnchanged: number;
  cacheNewer: number; // a write newer than the replayed events landed first: left alone
  errors: number;
};
/** A product the replay could not rebuild, and why. */
export type ReplayError = { productId: string; message: string };

/** A replay job as any api instance reports it (saved after every page). */
export type ReplayJob = ReplayCounts & {
  jobId: string;
  status: "running" | "completed" | "failed" | "abandoned";
  scope: "all" | "ids";
  namespace: string;
  /** Every product (scope all), or the distinct ids asked for (scope ids). */
  total: number;
  missing: number;
  /** The ids asked for that have no events (the first 100). */
  missingIds: string[];
  ratePerSecond: number;
  errorSamples: ReplayError[];
  startedAt: string;
  updatedAt: string;
  finishedAt: string | null;
  failure: string | null;
};

/** Where replay jobs and the one-full-replay-per-namespace lock live (src/infra/redis-jobs.ts). */
export type JobStore = {
  /** null when this job got the lock; otherwise the id of the job holding it. */
  tryLock(namespace: string, jobId: string, ttlMs: number): Promise<string | null>;
  renew(namespace: string, jobId: string, ttlMs: number): Promise<boolean>;
  release(namespace: string, jobId: string): Promise<void>;
  save(job: ReplayJob): Promise<void>;
  load(jobId: string): Promise<ReplayJob | null>;
  /** The most recently started jobs, newest first (at most `limit`; jobs expire after a week). */
  recent(limit: number): Promise<ReplayJob[]>;
};

export type CacheKind = "p" | "t" | "m" | "n";
/**
 * One cache entry: a product ("p", payload = its JSON), a tombstone ("t"), a marker ("m"), or "no
 * such product" ("n", version 0: an id never created, kept for CACHE_NEGATIVE_TTL_SECONDS).
 */
export type CacheEntry = { version: number; kind: CacheKind; payload: string };
/** An entry as stored: with the fence epoch of its namespace when it was written. */
export type StoredEntry = CacheEntry & { epoch: string; /** Served from the process's near cache (L1), not read from Redis. */ l1?: true };
/**
 * What a write did: `stored`; `older` (refused: the key holds that version or a newer one);
 * `fenced` (refused: the namespace's fence moved since the writer learnt its epoch, so its data may
 * predate a loss of Redis data); `marked` (a consumer's state stored as a marker, see advance).
 */
export type WriteOutcome = "stored" | "older" | "fenced" | "marked";
export type CasResult = { applied: boolean; version: number; outcome: WriteOutcome };

/** The cache cannot be used now: unreachable, or its fence not verified since a reconnect. */
export class CacheUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CacheUnavailableError";
  }
}

/**
 * One namespace of the shared cache. Every write goes through one compare-and-set, so a key's
 * version never goes down; the namespace's fence makes a loss of Redis data (flush, restart,
 * failover to a replica that is behind) visible, after which nothing read before the loss is put
 * back and entries written before it are no longer served (see isServable).
 */
export interface ProductCache {
  /**
   * The fence epoch of the namespace as last verified by this process; null while not verified
   * (at start, after a reconnect): then every other method throws CacheUnavailableError.
   * Writers that put state they read or committed ("set") learn it BEFORE reading or committing.
   */
  epoch(): string | null;
  /** Resolves true once the fence is verified, false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean>;
  /**
   * null: no entry (or one that does not parse). Throws when the cache cannot be used.
   * `minVersion`: a near cache does not answer with an entry below it (it asks Redis).
   */
  get(id: string, minVersion?: number): Promise<StoredEntry | null>;
  getMany(ids: readonly string[]): Promise<(StoredEntry | null)[]>;
  /** A near cache's entry of `id`, at once (no I/O); null when it has none to give. */
  peek?(id: string, minVersion?: number): StoredEntry | null;
  /**
   * Where the part of the namespace holding `id` stands now: its fence and how many changes were
   * made under it. It changes whenever any entry there changes (or Redis lost data); read after
   * this call began, never shared with a read that began earlier (a near cache's read barrier).
   */
  stampOf?(id: string): Promise<Stamp>;
  /** `get` with the stamp of the entry's part of the namespace, read atomically with it. */
  getStamped?(id: string): Promise<{ entry: StoredEntry | null; stamp: Stamp }>;
  /** Stores state read or committed after learning `epoch`: refused when older, or when the fence moved. */
  put(id: string, entry: CacheEntry, epoch: string): Promise<CasResult>;
  putMany(items: readonly { id: string; entry: CacheEntry }[], epoch: string): Promise<CasResult[]>;
  /**
   * A consumer's states (versions from 1, as events have): applied over real data of the current epoch that is older; over anything
   * else (no entry, a marker, another epoch) stored as a marker of its version (outcome "marked").
   */
  advance(items: readonly { id: string; entry: CacheEntry }[]): Promise<CasResult[]>;
  /** Invalidation markers: "version N (from 1) exists; nothing older may be filled". Always safe. */
  mark(items: readonly { id: string; version: number }[]): Promise<CasResult[]>;
  /** Replaces an entry only if it is still exactly `expected` and the fence still holds `epoch` (replay repairs). */
  replaceIfEqual(id: string, expected: StoredEntry, entry: CacheEntry, epoch: string): Promise<"replaced" | "changed" | "fenced">;
  /** A short lease that lets one process fill a missing key while the others wait. */
  acquireLease(id: string, token: string, ttlMs: number): Promise<boolean>;
  releaseLease(id: string, token: string): Promise<void>;
  ping(): Promise<void>;
  /** Called whenever the fence was verified after the connection was (re)established. */
  onReady(listener: () => void): void;
  /** Called when this process finds that the fence moved: Redis may have lost data. */
  onEpochChange(listener: (epoch: string, previous: string | null) => void): void;
}

/**
 * A position in a namespace's changes: `source` names the change sequence (one per fence: per
 * namespace on a single server, per bucket on a Cluster), `fence` its fence value, `seq` how many
 * changes it has counted. Equal stamps mean no entry under that fence changed in between.
 */
export type Stamp = { source: string; fence: string; seq: number };

/**
 * Every change of a namespace's entries as it happens (for a near cache): each carries the
 * product id and its new version. `gap`: changes may have been lost (a reconnect, a sequence that
 * skipped, a resubscription), so everything learnt before must be dropped.
 */
export interface ChangeFeed {
  /** `at`: the change's place in its sequence (a feed that knows it; see Stamp). */
  listen(listener: { change(id: string, version: number, at?: { source: string; seq: number }): void; gap(reason: string): void }): void;
  /** True while changes are known to arrive: subscribed, and a message (a heartbeat at least) came recently. */
  healthy(): boolean;
  close(): Promise<void>;
}

/** What the read path reports (metrics). Every method is optional to implement; see noopObserver. */
export type CacheObserver = {
  hit(): void;
  miss(): void;
  fill(outcome: WriteOutcome): void;
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

/** A message for the event topic. */
export type KafkaMessage = { key: string | null; value: string; headers?: Record<string, string> };

/** One outbox row: an event on its way to Kafka. */
export type OutboxRow = { id: string; productId: string; version: number; payload: string; createdAt: Date };

/** Raised when the relay's session does not hold the leader lock (never had it, or lost it with the session). */
export class NotLeaderError extends Error {
  constructor(message = "this relay does not hold the outbox lock") {
    super(message);
    this.name = "NotLeaderError";
  }
}

/** The relay's view of the outbox (src/infra/outbox-store.ts). */
export type OutboxStore = {
  /** True while this process's session holds the relay lock; tries to take it when it does not. */
  tryLead(): Promise<boolean>;
  /** Throws NotLeaderError unless the session that took the lock still holds it. */
  assertLeading(): Promise<void>;
  /** Unsent rows in id order, read on the session that holds the lock (else NotLeaderError). */
  fetchUnsent(limit: number): Promise<OutboxRow[]>;
  markSent(ids: readonly string[]): Promise<void>;
  /** Unsent rows and the age of the oldest, for the backlog metrics. */
  backlog(): Promise<{ rows: number; oldestAgeSeconds: number }>;
  /** Deletes rows sent more than `olderThanSeconds` ago, at most `limit` per call. */
  purgeSent(olderThanSeconds: number, limit: number): Promise<number>;
  /**
   * Resolves on the next NOTIFY on the outbox channel, or after `timeoutMs`; at once when one
   * arrived since the last fetchUnsent began (so a commit between the fetch and the wait is not
   * left waiting for the poll).
   */
  waitForNotify(timeoutMs: number): Promise<"notified" | "timeout">;
  /** Ends a waitForNotify early (shutdown). */
  wakeUp(): void;
  close(): Promise<void>;
};

/**
 * The relay's producer: transactional, with one transactional id shared by every relay of the
 * outbox, so that opening it fences every producer opened before (the broker aborts their open
 * transaction and refuses their later ones). The fencing token of the relay's publishes.
 */
export type OutboxPublisher = {
  /** Opens the producer when none is open; true when it opened one (and so fenced the older ones). */
  open(): Promise<boolean>;
  /** Publishes the messages in one transaction: consumers see all of them or none. */
  publish(messages: readonly KafkaMessage[]): Promise<void>;
  /** Closes the producer (after a failed publish, or when the lock is lost). */
  close(): Promise<void>;
};
