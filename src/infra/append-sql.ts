// The event store's write path as SQL: one call of catalog_append (prisma/migrations/
// 20261129073000_append_function) per append, sent on the pg pool under the Prisma client, and the
// NOTIFY that wakes the relay, sent after the commit and coalesced across writes.
//
// Why not Prisma's own calls: the Prisma batch transaction this replaces took six statements and
// their round trips (BEGIN, three writes, the NOTIFY, COMMIT), and the api's process spent 1.2 ms
// of CPU per write (the snapshot's read included); the one call takes one round trip and 0.29 ms
// through Prisma's $queryRawUnsafe, 0.19 ms straight on pg (bench/append-cost.ts, 2026-11-29; see
// docs/BENCHMARKS.md, "Writes").
//
// Why the NOTIFY is not in the transaction: PostgreSQL serializes the commits of every transaction
// that notifies (a lock held from pre-commit to the end of the commit, WAL flush included), so one
// NOTIFY per write makes the writes commit one at a time. After the commit the relay is woken as
// well (it reads every unsent row when woken), and a lost NOTIFY (the api dies between the commit
// and the NOTIFY) costs the relay's poll interval, as a lost connection always could.
import type pg from "pg";
import type { EventEnvelope, ProductEvent } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";

export const APPEND_SQL =
  "SELECT catalog_append($1::jsonb, $2::jsonb, $3::int, $4::varchar, $5::int, $6::boolean, $7::varchar, $8::text, $9::bigint, $10::char(3), $11::varchar, $12::timestamptz, $13::timestamptz) AS ok";

export const NOTIFY_SQL = "SELECT pg_notify($1, '')";

/** The parameters of APPEND_SQL: the events, their envelopes, the version decided on, the snapshot after them. */
export function appendParams(events: readonly ProductEvent[], next: ProductState, envelopes: readonly EventEnvelope[]): unknown[] {
  if (events.length === 0) throw new Error("an append needs at least one event");
  return [
    JSON.stringify(events),
    JSON.stringify(envelopes),
    events[0]!.version - 1, // the version the command was decided on (0: no product yet)
    next.id,
    next.version,
    next.deleted,
    next.name,
    next.description,
    String(next.priceCents),
    next.currency,
    next.category ?? null,
    next.createdAt,
    next.updatedAt,
  ];
}

/** Runs one statement and returns its rows: on pg (a named, prepared statement) or through Prisma. */
export type SqlRunner = (name: string, text: string, values: unknown[]) => Promise<Record<string, unknown>[]>;

export function pgRunner(pool: pg.Pool): SqlRunner {
  return async (name, text, values) => (await pool.query({ name, text, values })).rows;
}

/** The SQLSTATE of a failed statement: from pg, or from Prisma's driver-adapter error. */
export function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null;
  const viaPrisma = e?.meta?.driverAdapterError?.cause?.originalCode;
  if (typeof viaPrisma === "string") return viaPrisma;
  return typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

// pg's own errors when the server cannot be used: a socket that failed, a connection the server
// ended or refused (SQLSTATE class 08, 57P01-57P03 shutdown and start-up, 53300 too many
// connections), and the server refusing this api its database (3D000, 28000, 28P01), as the
// Prisma side reads them (isUnavailable in prisma-event-store.ts).
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01"]);
const UNAVAILABLE_TEXT = /Connection terminated|connection error and is not queryable|Cannot use a pool after calling end|timeout exceeded when trying to connect/i;
export function pgUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (SOCKET_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith("08"))) return true;
  return err instanceof Error && UNAVAILABLE_TEXT.test(err.message);
}

/**
 * Coalesces wake-ups: `poke()` after each commit; one NOTIFY is in flight at a time, and pokes that
 * come while it is sent are answered by one more NOTIFY after it (a NOTIFY already on its way may
 * have been read before their commits). Failures are left to the relay's poll.
 */
export function createNotifier(send: () => Promise<unknown>) {
  let sending = false;
  let again = false;
  let sent = 0;
  async function loop() {
    sending = true;
    do {
      again = false;
      try {
        await send();
        sent++;
      } catch {
        // PostgreSQL down or the pool closed: the relay polls.
      }
    } while (again);
    sending = false;
  }
  return {
    poke() {
      if (sending) again = true;
      else void loop();
    },
    /** NOTIFYs sent so far. */
    sent: () => sent,
  };
}
