// The PostgreSQL adapter of EventStore, through Prisma with the pg driver adapter.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, Prisma } from "../generated/prisma/client.ts";
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import { fold } from "../catalog/evolve.ts";
import { sameState, type ProductState } from "../catalog/product.ts";
import { ConcurrentAppendError, ServiceUnavailableError, type EventStore, type ReplaySource } from "../usecases/ports.ts";
import { OUTBOX_CHANNEL } from "./outbox-table.ts";

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
      if (states.length === 0) return 0;
      const ids = [...new Set(states.map((s) => s.id))].sort();
      return prisma.$transaction(
        async (tx) => {
          // 1. Lock the rows, in id order (two replays never deadlock; a writer locks one row). A
          //    write holding one of them commits first; every statement after this one sees it.
          await tx.$queryRaw`SELECT id FROM product_snapshots WHERE id = ANY(${ids}) ORDER BY id FOR UPDATE`;
          const rows = new Map((await tx.productSnapshot.findMany({ where: { id: { in: ids } } })).map((r) => [r.id, stateFromRow(r)]));
          // 2. The truth now: a state the replay folded before a write committed is folded again.
          const maxRows = await tx.$queryRaw<{ product_id: string; v: number }[]>`
            SELECT product_id, max(version) AS v FROM events WHERE product_id = ANY(${ids}) GROUP BY product_id`;
          const max = new Map(maxRows.map((r) => [r.product_id, Number(r.v)]));
          const truth = new Map(states.map((s) => [s.id, s]));
          const behind = ids.filter((id) => (max.get(id) ?? 0) > truth.get(id)!.version);
          if (behind.length) {
            const events = await tx.event.findMany({ where: { productId: { in: behind } }, orderBy: [{ productId: "asc" }, { version: "asc" }] });
            for (const id of behind) {
              const own = events.filter((e) => e.productId === id).map(eventFromRow);
              try {
                const state = fold(own);
                if (state && state.version === own.length) truth.set(id, state);
                else truth.delete(id);
              } catch {
                truth.delete(id); // does not fold: the replay reports it; the row is left alone
              }
            }
          }
          // 3. Write what differs. A locked row is ours until the commit; a missing one may have been
          //    created meanwhile by a writer, whose row then stays.
          let written = 0;
          const missing: (ReturnType<typeof rowFromState> & { id: string })[] = [];
          for (const id of ids) {
            const s = truth.get(id);
            if (!s) continue;
            const row = rows.get(id);
            if (row && sameState(row, s)) continue;
            if (row) {
              await tx.productSnapshot.update({ where: { id }, data: rowFromState(s) });
              written++;
            } else missing.push({ id, ...rowFromState(s) });
          }
          if (missing.length) written += (await tx.productSnapshot.createMany({ data: missing, skipDuplicates: true })).count;
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
}
