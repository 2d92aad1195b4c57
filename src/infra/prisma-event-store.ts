// The PostgreSQL adapter of EventStore, through Prisma with the pg driver adapter.
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient, Prisma } from "../generated/prisma/client.ts";
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import { foldKnown } from "../catalog/evolve.ts";
import { sameState, type ProductState } from "../catalog/product.ts";
import { ConcurrentAppendError, ServiceUnavailableError, type EventStore, type ReplaySource } from "../usecases/ports.ts";
import { APPEND_SQL, NOTIFY_SQL, appendParams, createNotifier, pgRunner, pgUnavailable, sqlState, type SqlRunner } from "./append-sql.ts";
import { OUTBOX_CHANNEL } from "./outbox-table.ts";
import { streamProducts, streamUnavailable } from "./event-stream.ts";

// The pg pool under each client made here: the write path sends its one statement on it directly
// (see append). Prisma ends it on $disconnect; a client that reconnects afterwards gets a new pool
// of its own, and the write path then goes through Prisma's raw queries.
const pools = new WeakMap<PrismaClient, pg.Pool>();

export function createPrismaClient(databaseUrl: string, poolSize = 10): PrismaClient {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  pool.on("error", () => {}); // an idle connection that broke: dropped by the pool; the next query opens another
  const client = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(client, pool);
  return client;
}

type SnapshotRow = Prisma.ProductSnapshotGetPayload<object>;
type EventRow = Prisma.EventGetPayload<object>;

export function stateFromRow(row: SnapshotRow): ProductState {
  const state: ProductState = {
    id: row.id,
    name: row.name,
    description: row.description,
    priceCents: Number(row.priceCents),
    currency: row.currency,
    version: row.version,
    deleted: row.deleted,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
  if (row.category !== null) state.category = row.category;
  return state;
}

export function rowFromState(s: ProductState) {
  return {
    version: s.version,
    deleted: s.deleted,
    name: s.name,
    description: s.description,
    priceCents: BigInt(s.priceCents),
    currency: s.currency,
    category: s.category ?? null,
    createdAt: new Date(s.createdAt),
    updatedAt: new Date(s.updatedAt),
  };
}

export function eventFromRow(row: EventRow): ProductEvent {
  return {
    eventId: row.eventId,
    productId: row.productId,
    version: row.version,
    type: row.type,
    schemaVersion: row.schemaVersion,
    occurredAt: row.occurredAt.toISOString(),
    data: row.data,
  } as ProductEvent;
}

// Cannot reach the server, connection closed, pool exhausted, server restarting; and the server
// refusing this api its database (wrong credentials, no such database, no access): an operator's
// fix away, so 503 and not ready, not a 500 per request.
const UNAVAILABLE_CODES = new Set(["P1000", "P1001", "P1002", "P1003", "P1008", "P1010", "P1017", "P2024"]);
const UNAVAILABLE_TEXT =
  /ECONNREFUSED|ECONNRESET|Connection terminated|terminating connection|connection error and is not queryable|database system is (starting up|shutting down)|Can't reach database/i;
// What the pg driver adapter reports (DriverAdapterError, `cause.kind`) when the server went away.
const UNAVAILABLE_KINDS = new Set([
  "ConnectionClosed",
  "DatabaseNotReachable",
  "SocketTimeout",
  "TooManyConnections",
  "DatabaseDoesNotExist",
  "AuthenticationFailed",
  "DatabaseAccessDenied",
]);
export function isUnavailable(err: unknown): boolean {
  if (err instanceof Prisma.PrismaClientInitializationError) return true;
  const kind = (err as { cause?: { kind?: unknown } } | null)?.cause?.kind;
  if (typeof kind === "string" && UNAVAILABLE_KINDS.has(kind)) return true;
  if (err instanceof Prisma.PrismaClientKnownRequestError && UNAVAILABLE_CODES.has(err.code)) return true;
  return err instanceof Error && UNAVAILABLE_TEXT.test(err.message);
}

/** Every method of the store, with connectivity failures turned into ServiceUnavailableError. */
function guarded<T extends object>(store: T): T {
  for (const [name, fn] of Object.entries(store)) {
    if (typeof fn !== "function") continue;
    (store as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw isUnavailable(err) ? new ServiceUnavailableError("postgres", err) : err;
      }
    };
  }
  return store;
}

export function createPrismaEventStore(prisma: PrismaClient): EventStore & ReplaySource {
  // The write path's statements: on the client's pg pool while it is open, else through Prisma.
  const viaPrisma: SqlRunner = (_name, text, values) => prisma.$queryRawUnsafe<Record<string, unknown>[]>(text, ...values);
  const pool = pools.get(prisma);
  const direct = pool ? pgRunner(pool) : null;
  const sql = (): SqlRunner => (direct && !pool!.ended ? direct : viaPrisma);
  const notifier = createNotifier(() => sql()("catalog_notify", NOTIFY_SQL, [OUTBOX_CHANNEL]));
  const store: EventStore & Omit<ReplaySource, "streamProducts"> = guarded({
    async loadState(id) {
      const row = await prisma.productSnapshot.findUnique({ where: { id } });
      return row ? stateFromRow(row) : null;
    },
    async loadStates(ids) {
      if (ids.length === 0) return [];
      const rows = await prisma.productSnapshot.findMany({ where: { id: { in: [...ids] } } });
      return rows.map(stateFromRow);
    },
    async append(events, next, envelopes: readonly EventEnvelope[]) {
      // One statement, one round trip: catalog_append locks the snapshot row, checks the version
      // the command was decided on, and writes the snapshot, the events and the outbox rows in the
      // statement's transaction. FALSE, or the unique (product_id, version) index failing, means
      // another writer took the version first.
      let appended: boolean;
      try {
        const rows = await sql()("catalog_append", APPEND_SQL, appendParams(events, next, envelopes));
        appended = rows[0]?.ok === true;
      } catch (err) {
        if (sqlState(err) === "23505") throw new ConcurrentAppendError(next.id, events[0]!.version);
        if (pgUnavailable(err)) throw new ServiceUnavailableError("postgres", err);
        throw err;
      }
      if (!appended) throw new ConcurrentAppendError(next.id, events[0]!.version);
      // Wakes the relay, after the commit (see append-sql.ts for why not inside the transaction).
      notifier.poke();
    },
    async history(id) {
      const rows = await prisma.event.findMany({ where: { productId: id }, orderBy: { version: "asc" } });
      return rows.map(eventFromRow);
    },
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },

    async countProducts(only) {
      // DISTINCT in a subquery walks the (product_id, version) index; count(DISTINCT) sorts.
      const rows = only
        ? await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(DISTINCT product_id) AS n FROM events WHERE product_id = ANY(${[...only]})`
        : await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM (SELECT DISTINCT product_id FROM events) AS products`;
      return Number(rows[0]!.n);
    },
    async productIdsAfter(after, limit) {
      const rows = await prisma.$queryRaw<{ product_id: string }[]>`
        SELECT DISTINCT product_id FROM events WHERE product_id > ${after ?? ""} ORDER BY product_id LIMIT ${limit}`;
      return rows.map((r) => r.product_id);
    },
    async eventsOf(ids) {
      const rows = await prisma.event.findMany({
        where: { productId: { in: [...ids] } },
        orderBy: [{ productId: "asc" }, { version: "asc" }],
      });
      return rows.map(eventFromRow);
    },
    async repairSnapshots(states) {
      if (states.length === 0) return 0;
      const ids = [...new Set(states.map((s) => s.id))].sort();
      return prisma.$transaction(
        async (tx) => {
          // 1. Lock the rows and read them, in id order (two replays never deadlock; a writer locks
          //    one row). A write holding one of them commits first, and the row read is the one it
          //    left; every statement after this one sees its events.
          const locked = await tx.$queryRaw<SnapshotRow[]>`
            SELECT id, version, deleted, name, description, price_cents AS "priceCents", currency, category,
                   created_at AS "createdAt", updated_at AS "updatedAt"
            FROM product_snapshots WHERE id = ANY(${ids}) ORDER BY id FOR UPDATE`;
          const rows = new Map(locked.map((r) => [r.id, stateFromRow(r)]));
          // 2. The truth now: a state the replay folded before a write committed is folded again.
          const maxRows = await tx.$queryRaw<{ product_id: string; v: number }[]>`
            SELECT product_id, max(version) AS v FROM events WHERE product_id = ANY(${ids}) GROUP BY product_id`;
          const max = new Map(maxRows.map((r) => [r.product_id, Number(r.v)]));
          const truth = new Map(states.map((s) => [s.id, s]));
          const behind = ids.filter((id) => (max.get(id) ?? 0) > truth.get(id)!.version);
          if (behind.length) {
            const events = await tx.event.findMany({ where: { productId: { in: behind } }, orderBy: [{ productId: "asc" }, { version: "asc" }] });
            const byProduct = new Map<string, ProductEvent[]>();
            for (const e of events) byProduct.set(e.productId, [...(byProduct.get(e.productId) ?? []), eventFromRow(e)]);
            for (const id of behind) {
              const own = byProduct.get(id) ?? [];
              try {
                truth.set(id, foldKnown(own));
              } catch {
                truth.delete(id); // does not fold: the replay reports it; the row is left alone
              }
            }
          }
          // 3. Write what differs, in bulk: one UPDATE for the locked rows (ours until the commit),
          //    one INSERT for the missing ones (a writer may have created one meanwhile: its row stays).
          const changed: ProductState[] = [];
          const missing: ProductState[] = [];
          for (const id of ids) {
            const s = truth.get(id);
            if (!s) continue;
            const row = rows.get(id);
            if (!row) missing.push(s);
            else if (!sameState(row, s)) changed.push(s);
          }
          let written = 0;
          if (changed.length) {
            const c = columns(changed);
            written += await tx.$executeRaw`
              UPDATE product_snapshots AS s
              SET version = u.version, deleted = u.deleted, name = u.name, description = u.description, price_cents = u.price_cents,
                  currency = u.currency, category = u.category, created_at = u.created_at, updated_at = u.updated_at
              FROM unnest(${c.id}::text[], ${c.version}::int[], ${c.deleted}::boolean[], ${c.name}::text[], ${c.description}::text[],
                          ${c.priceCents}::bigint[], ${c.currency}::text[], ${c.category}::text[], ${c.createdAt}::timestamptz[], ${c.updatedAt}::timestamptz[])
                AS u(id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
              WHERE s.id = u.id`;
          }
          if (missing.length) {
            const c = columns(missing);
            written += await tx.$executeRaw`
              INSERT INTO product_snapshots (id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
              SELECT * FROM unnest(${c.id}::text[], ${c.version}::int[], ${c.deleted}::boolean[], ${c.name}::text[], ${c.description}::text[],
                                   ${c.priceCents}::bigint[], ${c.currency}::text[], ${c.category}::text[], ${c.createdAt}::timestamptz[], ${c.updatedAt}::timestamptz[])
              ON CONFLICT (id) DO NOTHING`;
          }
          return written;
        },
        { timeout: 30_000, maxWait: 10_000 },
      );
    },
    async maxVersions(ids) {
      const rows = await prisma.$queryRaw<{ product_id: string; v: number }[]>`
        SELECT product_id, max(version) AS v FROM events WHERE product_id = ANY(${[...ids]}) GROUP BY product_id`;
      return new Map(rows.map((r) => [r.product_id, Number(r.v)]));
    },
  });
  return Object.assign(store, {
    // Not through guarded(): it returns an iterable, whose failures are mapped as they are thrown.
    async *streamProducts(after: string | null, pageSize: number) {
      if (!pool) throw new Error("streamProducts needs a client made by createPrismaClient (it opens a connection of its own)");
      try {
        yield* streamProducts(pool.options.connectionString!, after, pageSize);
      } catch (err) {
        throw isUnavailable(err) || streamUnavailable(err) ? new ServiceUnavailableError("postgres", err) : err;
      }
    },
  });
}

/** Snapshot rows as column arrays, for unnest(). */
function columns(states: readonly ProductState[]) {
  return {
    id: states.map((s) => s.id),
    version: states.map((s) => s.version),
    deleted: states.map((s) => s.deleted),
    name: states.map((s) => s.name),
    description: states.map((s) => s.description),
    priceCents: states.map((s) => String(s.priceCents)),
    currency: states.map((s) => s.currency),
    category: states.map((s) => s.category ?? null),
    createdAt: states.map((s) => s.createdAt),
    updatedAt: states.map((s) => s.updatedAt),
  };
}
