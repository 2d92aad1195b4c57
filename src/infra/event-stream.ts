// The replay's read of the event store (ReplaySource.streamProducts): one server-side cursor over
// the events in product order, in a read-only REPEATABLE READ transaction on a connection of its
// own, so every page comes from the view taken when the stream began; each page's snapshot rows are
// read in the same transaction, by one range scan (ids between the page's first and last), so they
// come from that view too. The next batch of rows is fetched while the caller works on the page.
//
// Through Bun's own PostgreSQL client (Bun.SQL), not pg: it decodes the rows natively (jsonb to
// objects, timestamps to Dates, int8 to strings, as pg does), and the replay's one thread spends
// about 0.45 s less per 500,000 events on them (docs/BENCHMARKS.md, "Replay rate"). The connection
// is reserved: Bun.SQL reconnects a pool's connection on its own, and a query sent on a new
// connection would run outside the transaction and its view; a reserved one that broke fails every
// later query instead. What comes out equals what eventFromRow and stateFromRow make of the same
// rows through Prisma (test/integration/ports/event-store.test.ts holds both adapters to one
// contract). Runs on Bun only: the api and `bun run replay` (the consumers on Node never load it).
import { SQL } from "bun";
import type { ProductEvent } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";
import type { StreamedProduct } from "../usecases/ports.ts";
import { pgUnavailable } from "./append-sql.ts";

/** Every event after a product id, in product then version order: the replay's one streaming query. */
export const EVENTS_IN_PRODUCT_ORDER =
  "SELECT product_id, version, event_id, type, schema_version, data, occurred_at FROM events WHERE product_id > $1 ORDER BY product_id, version";

const SNAPSHOTS_BETWEEN =
  "SELECT id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at FROM product_snapshots WHERE id >= $1 AND id <= $2";

/** The stream's session as pg_stat_activity names it, for an operator looking for it. */
export const STREAM_APPLICATION_NAME = "catalog-cache replay";

/** Rows fetched from the cursor per round trip. */
export const FETCH_ROWS = 5000;

type EventRow = [string, number, string, string, number, unknown, Date];
const eventOf = (r: EventRow): ProductEvent =>
  ({ eventId: r[2], productId: r[0], version: r[1], type: r[3], schemaVersion: r[4], occurredAt: r[6].toISOString(), data: r[5] }) as ProductEvent;

/** price_cents is an int8, which arrives as a string (as from pg). */
type SnapshotRow = [string, number, boolean, string, string, string, string, string | null, Date, Date];
function stateOf(r: SnapshotRow): ProductState {
  const state: ProductState = {
    id: r[0],
    name: r[3],
    description: r[4],
    priceCents: Number(r[5]),
    currency: r[6],
    version: r[1],
    deleted: r[2],
    createdAt: r[8].toISOString(),
    updatedAt: r[9].toISOString(),
  };
  if (r[7] !== null) state.category = r[7];
  return state;
}

type Session = Awaited<ReturnType<SQL["reserve"]>>;

async function withSnapshots(session: Session, page: StreamedProduct[]): Promise<StreamedProduct[]> {
  const rows = (await session.unsafe(SNAPSHOTS_BETWEEN, [page[0]!.id, page.at(-1)!.id]).values()) as SnapshotRow[];
  const byId = new Map(rows.map((r) => [r[0], r]));
  for (const p of page) {
    const row = byId.get(p.id);
    if (row) p.snapshot = stateOf(row);
  }
  return page;
}

/**
 * ReplaySource.streamProducts on a connection opened to `databaseUrl` for this stream alone (the
 * pool's connections stay free for requests) and closed when the iteration ends, however it ends.
 */
export async function* streamProducts(databaseUrl: string, after: string | null, pageSize: number, fetchRows = FETCH_ROWS): AsyncGenerator<StreamedProduct[]> {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, not ${pageSize}`);
  // DateStyle ISO: Bun.SQL reads timestamps in that style only (it sends it by default, over a
  // database's or role's own setting; said here so nothing rests on that default).
  const sql = new SQL(databaseUrl, { max: 1, connection: { application_name: STREAM_APPLICATION_NAME, DateStyle: "ISO" } });
  let session: Session | null = null;
  let ahead: Promise<EventRow[]> | null = null;
  try {
    session = await sql.reserve();
    const s = session;
    await s.unsafe("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await s.unsafe(`DECLARE replay_events NO SCROLL CURSOR FOR ${EVENTS_IN_PRODUCT_ORDER}`, [after ?? ""]);
    const fetch = () => {
      const rows = s.unsafe(`FETCH ${fetchRows} FROM replay_events`).values() as Promise<EventRow[]>;
      rows.catch(() => {}); // awaited below; not an unhandled rejection while the caller holds a page
      return rows;
    };
    let page: StreamedProduct[] = [];
    let current: StreamedProduct | null = null;
    ahead = fetch();
    while (ahead) {
      const rows: EventRow[] = await ahead;
      ahead = rows.length === fetchRows ? fetch() : null; // read on while this batch is grouped and the page is used
      for (const r of rows) {
        if (current === null || current.id !== r[0]) {
          // A product is complete when the next one begins (its events may span two fetches).
          if (current) page.push(current);
          if (page.length === pageSize) {
            yield await withSnapshots(s, page);
            page = [];
          }
          current = { id: r[0], events: [], snapshot: null };
        }
        current.events.push(eventOf(r));
      }
    }
    if (current) page.push(current);
    if (page.length) yield await withSnapshots(s, page);
    await s.unsafe("COMMIT");
  } finally {
    // Ended early (break, throw): let a fetch in flight finish, then close; the server ends the transaction.
    await ahead?.catch(() => {});
    try {
      session?.release();
    } catch {}
    await sql.close().catch(() => {});
  }
}

/**
 * Whether a stream's error says PostgreSQL is unavailable. Bun.SQL's errors carry the SQLSTATE in
 * `errno` (judged as pg's are, by pgUnavailable) and its own codes in `code`.
 */
export function streamUnavailable(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== "PostgresError") return false;
  const { code, errno } = err as { code?: unknown; errno?: unknown };
  if (typeof errno === "string") return pgUnavailable({ code: errno });
  return typeof code === "string" && /^ERR_POSTGRES_(CONNECTION_\w+|\w+_TIMEOUT)$/.test(code);
}
