// The PostgreSQL adapter of EventStore, through Prisma with the pg driver adapter.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, Prisma } from "../generated/prisma/client.ts";
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";
import { ConcurrentAppendError, ServiceUnavailableError, type EventStore, type ReplaySource } from "../usecases/ports.ts";
import { OUTBOX_CHANNEL } from "./outbox-store.ts";

export function createPrismaClient(databaseUrl: string, poolSize = 10): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: poolSize }) });
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

const isUniqueViolation = (err: unknown) =>
  err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";

// Cannot reach the server, connection closed, pool exhausted, server restarting.
const UNAVAILABLE_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
const UNAVAILABLE_TEXT =
  /ECONNREFUSED|ECONNRESET|Connection terminated|terminating connection|connection error and is not queryable|database system is (starting up|shutting down)|Can't reach database/i;
// What the pg driver adapter reports (DriverAdapterError, `cause.kind`) when the server went away.
const UNAVAILABLE_KINDS = new Set(["ConnectionClosed", "DatabaseNotReachable", "SocketTimeout", "TooManyConnections"]);
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
  return guarded({
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
      try {
        // A batch transaction: one BEGIN…COMMIT without interactive round trips. The unique
        // (product_id, version) index is the optimistic lock: a second writer of a version fails.
        await prisma.$transaction([
          prisma.event.createMany({
            data: events.map((e) => ({
              eventId: e.eventId,
              productId: e.productId,
              version: e.version,
              type: e.type,
              schemaVersion: e.schemaVersion,
              data: e.data as Prisma.InputJsonValue,
              occurredAt: new Date(e.occurredAt),
            })),
          }),
          prisma.productSnapshot.upsert({
            where: { id: next.id },
            create: { id: next.id, ...rowFromState(next) },
            update: rowFromState(next),
          }),
          prisma.outboxMessage.createMany({
            data: envelopes.map((e) => ({
              eventId: e.eventId,
              productId: e.productId,
              version: e.version,
              payload: e as unknown as Prisma.InputJsonValue,
            })),
          }),
          // Wakes the relay when this transaction commits (PostgreSQL delivers NOTIFY on commit).
          prisma.$executeRaw`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`,
        ]);
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConcurrentAppendError(next.id, events[0]!.version);
        throw err;
      }
    },
    async history(id) {
      const rows = await prisma.event.findMany({ where: { productId: id }, orderBy: { version: "asc" } });
      return rows.map(eventFromRow);
    },
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },

    async countProducts(only) {
      const rows = only
        ? await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(DISTINCT product_id) AS n FROM events WHERE product_id = ANY(${[...only]})`
        : await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(DISTINCT product_id) AS n FROM events`;
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
      let written = 0;
      for (const s of states) {
        const r = rowFromState(s);
        // Fenced: a snapshot newer than the replayed state stays, unless no event backs its version.
        written += await prisma.$executeRaw`
          INSERT INTO product_snapshots AS p (id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
          VALUES (${s.id}, ${r.version}, ${r.deleted}, ${r.name}, ${r.description}, ${r.priceCents}, ${r.currency}, ${r.category}, ${r.createdAt}, ${r.updatedAt})
          ON CONFLICT (id) DO UPDATE SET
            version = EXCLUDED.version, deleted = EXCLUDED.deleted, name = EXCLUDED.name, description = EXCLUDED.description,
            price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency, category = EXCLUDED.category,
            created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
          WHERE p.version <= EXCLUDED.version
             OR p.version > (SELECT coalesce(max(version), 0) FROM events WHERE product_id = EXCLUDED.id)`;
      }
      return written;
    },
    async maxVersions(ids) {
      const rows = await prisma.$queryRaw<{ product_id: string; v: number }[]>`
        SELECT product_id, max(version) AS v FROM events WHERE product_id = ANY(${[...ids]}) GROUP BY product_id`;
      return new Map(rows.map((r) => [r.product_id, Number(r.v)]));
    },
  });
}
