// The in-memory twin of the PostgreSQL side: one "database" (events, snapshot rows, outbox rows,
// the relay's advisory lock, NOTIFY) shared by any number of event stores and outbox stores, one
// per simulated process. Each append is one atomic step, as the real transaction is; the unique
// (product, version) rule is the optimistic lock. test/integration/ports/event-store.test.ts and
// outbox-store.test.ts hold it to the same contract as the Prisma and pg adapters.
//
// What a test can do to it: take it down (calls throw ServiceUnavailableError), run a hook inside
// an append before it commits (to let another writer win the version, deterministically), end a
// relay's session (as pg_terminate_backend does: its lock goes), and read every row.
import { foldKnown } from "../../catalog/evolve.ts";
import type { EventEnvelope, ProductEvent } from "../../catalog/events.ts";
import { sameState, type ProductState } from "../../catalog/product.ts";
import { createNotifyLatch } from "../notify-latch.ts";
import { ConcurrentAppendError, NotLeaderError, ServiceUnavailableError, type EventStore, type OutboxRow, type OutboxStore, type ReplaySource } from "../../usecases/ports.ts";

type OutboxRecord = { id: number; productId: string; version: number; payload: string; createdAt: Date; sentAt: Date | null };

export type MemoryDatabase = {
  readonly events: ProductEvent[];
  readonly snapshots: Map<string, ProductState>;
  readonly outbox: OutboxRecord[];
  /** Runs inside each append before it commits; what it appends itself commits first. */
  beforeAppend: ((events: readonly ProductEvent[]) => Promise<void> | void) | null;
  down(): void;
  up(): void;
  /** Ends a session as pg_terminate_backend does: its advisory lock is released. */
  terminate(session: symbol): void;
  /** @internal */
  internal: {
    check(): void;
    commit(events: readonly ProductEvent[], next: ProductState, envelopes: readonly EventEnvelope[]): void;
    lockHolder: symbol | null;
    sessions: Set<symbol>;
    notify(): void;
    listen(fn: () => void): () => void;
    clock(): Date;
  };
};

export function createMemoryDatabase(options: { now?: () => Date } = {}): MemoryDatabase {
  const clock = options.now ?? (() => new Date());
  let isDown = false;
  let nextOutboxId = 1;
  const listeners = new Set<() => void>();
  const db: MemoryDatabase = {
    events: [],
    snapshots: new Map(),
    outbox: [],
    beforeAppend: null,
    down: () => {
      isDown = true;
    },
    up: () => {
      isDown = false;
    },
    terminate(session) {
      db.internal.sessions.delete(session);
      if (db.internal.lockHolder === session) db.internal.lockHolder = null;
    },
    internal: {
      check() {
        if (isDown) throw new ServiceUnavailableError("postgres", new Error("the in-memory database is down"));
      },
      commit(events, next, envelopes) {
        for (const e of events) {
          if (db.events.some((x) => x.productId === e.productId && x.version === e.version)) throw new ConcurrentAppendError(next.id, events[0]!.version);
        }
        db.events.push(...events.map((e) => structuredClone(e)));
        db.snapshots.set(next.id, structuredClone(next));
        for (const env of envelopes) {
          db.outbox.push({ id: nextOutboxId++, productId: env.productId, version: env.version, payload: JSON.stringify(env), createdAt: clock(), sentAt: null });
        }
        db.internal.notify(); // NOTIFY is delivered on commit
      },
      lockHolder: null,
      sessions: new Set(),
      notify() {
        queueMicrotask(() => listeners.forEach((fn) => fn()));
      },
      listen(fn) {
        listeners.add(fn);
        return () => listeners.delete(fn);
      },
      clock,
    },
  };
  return db;
}

const byProductThenVersion = (a: ProductEvent, b: ProductEvent) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : a.version - b.version);

export function createMemoryEventStore(db: MemoryDatabase): EventStore & ReplaySource {
  const { check } = db.internal;
  const eventsOf = (id: string) => db.events.filter((e) => e.productId === id).sort(byProductThenVersion);
  const maxVersion = (id: string) => db.events.reduce((m, e) => (e.productId === id && e.version > m ? e.version : m), 0);
  const productIds = () => [...new Set(db.events.map((e) => e.productId))].sort();
  return {
    async loadState(id) {
      check();
      const s = db.snapshots.get(id);
      return s ? structuredClone(s) : null;
    },
    async loadStates(ids) {
      check();
      return ids.flatMap((id) => (db.snapshots.has(id) ? [structuredClone(db.snapshots.get(id)!)] : []));
    },
    async append(events, next, envelopes) {
      check();
      await db.beforeAppend?.(events);
      check();
      db.internal.commit(events, next, envelopes);
    },
    async history(id) {
      check();
      return eventsOf(id).map((e) => structuredClone(e));
    },
    async ping() {
      check();
    },
    async countProducts(only) {
      check();
      const ids = new Set(db.events.map((e) => e.productId));
      return only ? new Set(only.filter((id) => ids.has(id))).size : ids.size;
    },
    async productIdsAfter(after, limit) {
      check();
      return productIds()
        .filter((id) => after === null || id > after)
        .slice(0, limit);
    },
    async eventsOf(ids) {
      check();
      const wanted = new Set(ids);
      return db.events.filter((e) => wanted.has(e.productId)).sort(byProductThenVersion).map((e) => structuredClone(e));
    },
    async repairSnapshots(states) {
      check();
      // One atomic step, as the real transaction that locks the rows: re-fold what is behind the
      // events now, and write what differs.
      let written = 0;
      for (const given of states) {
        let truth: ProductState | null = given;
        if (maxVersion(given.id) > given.version) {
          const own = eventsOf(given.id);
          try {
            truth = foldKnown(own);
          } catch {
            truth = null;
          }
        }
        if (!truth) continue;
        const row = db.snapshots.get(given.id);
        if (row && sameState(row, truth)) continue;
        db.snapshots.set(given.id, structuredClone(truth));
        written++;
      }
      return written;
    },
    async maxVersions(ids) {
      check();
      const out = new Map<string, number>();
      for (const id of ids) {
        const v = maxVersion(id);
        if (v > 0) out.set(id, v);
      }
      return out;
    },
    async *streamProducts(after, pageSize) {
      if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, not ${pageSize}`);
      check();
      // The view, taken when the iteration starts (as the cursor's transaction takes it): copies of
      // the events and snapshot rows as they are now.
      const byProduct = new Map<string, ProductEvent[]>();
      for (const e of db.events) {
        if (after !== null && e.productId <= after) continue;
        const list = byProduct.get(e.productId);
        if (list) list.push(structuredClone(e));
        else byProduct.set(e.productId, [structuredClone(e)]);
      }
      const ids = [...byProduct.keys()].sort();
      const rows = new Map(ids.flatMap((id) => (db.snapshots.has(id) ? [[id, structuredClone(db.snapshots.get(id)!)] as const] : [])));
      for (let i = 0; i < ids.length; i += pageSize) {
        check();
        yield ids.slice(i, i + pageSize).map((id) => ({ id, events: byProduct.get(id)!.sort((a, b) => a.version - b.version), snapshot: rows.get(id) ?? null }));
      }
    },
  };
}

/**
 * One relay's view of the outbox, with its own "session": leadership is the session holding the
 * database's one lock; terminate() ends it.
 */
export function createMemoryOutboxStore(db: MemoryDatabase): OutboxStore & { session: symbol } {
  const { check } = db.internal;
  let session: symbol | null = null;
  let leading: symbol | null = null;
  const latch = createNotifyLatch();
  const unlisten = db.internal.listen(() => latch.notify());
  const connect = () => {
    check();
    if (session && !db.internal.sessions.has(session)) session = null; // terminated
    if (!session) {
      session = Symbol("relay-session");
      db.internal.sessions.add(session);
    }
    return session;
  };
  const leader = () => {
    if (!leading || leading !== session || !db.internal.sessions.has(leading)) throw new NotLeaderError();
    return leading;
  };
  const store = {
    get session() {
      return connect();
    },
    async tryLead() {
      const s = connect();
      if (db.internal.lockHolder === null) db.internal.lockHolder = s;
      if (db.internal.lockHolder === s) leading = s;
      return leading === s;
    },
    async assertLeading() {
      check();
      const s = leader();
      if (db.internal.lockHolder !== s) {
        leading = null;
        throw new NotLeaderError("this relay's session no longer holds the outbox lock");
      }
    },
    async fetchUnsent(limit: number): Promise<OutboxRow[]> {
      check();
      const s = leader();
      latch.clear();
      if (db.internal.lockHolder !== s) {
        leading = null;
        throw new NotLeaderError("this relay's session no longer holds the outbox lock");
      }
      return db.outbox
        .filter((r) => r.sentAt === null)
        .slice(0, limit)
        .map((r) => ({ id: String(r.id), productId: r.productId, version: r.version, payload: r.payload, createdAt: r.createdAt }));
    },
    async markSent(ids: readonly string[]) {
      check();
      leader();
      const set = new Set(ids.map(Number));
      for (const r of db.outbox) if (set.has(r.id)) r.sentAt = db.internal.clock();
    },
    async backlog() {
      check();
      const unsent = db.outbox.filter((r) => r.sentAt === null);
      const oldest = unsent[0]?.createdAt;
      return { rows: unsent.length, oldestAgeSeconds: oldest ? (db.internal.clock().getTime() - oldest.getTime()) / 1000 : 0 };
    },
    async purgeSent(olderThanSeconds: number, limit: number) {
      check();
      const cutoff = db.internal.clock().getTime() - olderThanSeconds * 1000;
      const gone = db.outbox.filter((r) => r.sentAt !== null && r.sentAt.getTime() < cutoff).slice(0, limit);
      for (const r of gone) db.outbox.splice(db.outbox.indexOf(r), 1);
      return gone.length;
    },
    waitForNotify(timeoutMs: number): Promise<"notified" | "timeout"> {
      return latch.wait(timeoutMs);
    },
    wakeUp() {
      latch.wakeUp();
    },
    async close() {
      unlisten();
      latch.wakeUp();
      if (session) db.terminate(session);
      session = null;
      leading = null;
    },
  };
  return store;
}
