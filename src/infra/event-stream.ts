// The replay's read of the event store (ReplaySource.streamProducts): one server-side cursor over
// the events in product order, in a read-only REPEATABLE READ transaction on a connection of its
// own, so every page comes from the view taken when the stream began; each page's snapshot rows are
// read in the same transaction, by one range scan (ids between the page's first and last), so they
// come from that view too. The next batch of rows is fetched while the caller works on the page.
//
// Rows are decoded here, not by pg's default parsers: jsonb with JSON.parse, timestamps from
// PostgreSQL's ISO text in UTC straight to the ISO strings the domain uses (no Date per value).
// What comes out equals what eventFromRow and stateFromRow make of the same rows through Prisma
// (test/integration/ports/event-store.test.ts holds both adapters to one contract).
import pg from "pg";
import type { ProductEvent } from "../catalog/events.ts";
import type { ProductState } from "../catalog/product.ts";
import type { StreamedProduct } from "../usecases/ports.ts";

/** Every event after a product id, in product then version order: the replay's one streaming query. */
export const EVENTS_IN_PRODUCT_ORDER =
  "SELECT product_id, version, event_id, type, schema_version, data, occurred_at FROM events WHERE product_id > $1 ORDER BY product_id, version";

const SNAPSHOTS_BETWEEN =
  "SELECT id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at FROM product_snapshots WHERE id >= $1 AND id <= $2";

/** Rows fetched from the cursor per round trip. */
export const FETCH_ROWS = 5000;

const parseDate = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date;

/**
 * A timestamptz as PostgreSQL prints it with DateStyle ISO and TimeZone UTC ("2026-01-01
 * 00:01:00+00", "…00:01:00.5+00"), as Date.toISOString() prints it ("2026-01-01T00:01:00.500Z").
 */
export function isoTimestamp(text: string): string {
  const n = text.length;
  // 4-digit year, a space before the time, "+00" at the end, no fraction or one of 1-3 digits.
  if (n >= 22 && n <= 26 && n !== 23 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && text.endsWith("+00")) {
    const day = text.slice(0, 10);
    const time = text.slice(11, 19);
    if (n === 22) return `${day}T${time}.000Z`;
    if (text.charCodeAt(19) === 46) return `${day}T${time}.${text.slice(20, n - 3).padEnd(3, "0")}Z`;
  }
  return parseDate(text).toISOString(); // another zone, more digits, a year BC or past 9999
}

const text = (value: string) => value;
const { INT4, INT8, BOOL, JSONB, JSON: JSONTEXT, TIMESTAMPTZ } = pg.types.builtins;
/** pg's per-query type parsers: only what the domain needs decoded is decoded. */
export const DECODE = {
  getTypeParser(oid: number): (value: string) => unknown {
    switch (oid) {
      case INT4:
      case INT8:
        return Number;
      case BOOL:
        return (value) => value === "t";
      case JSONB:
      case JSONTEXT:
        return JSON.parse;
      case TIMESTAMPTZ:
        return isoTimestamp;
      default:
        return text;
    }
  },
};

type EventRow = [string, number, string, string, number, unknown, string];
const eventOf = (r: EventRow): ProductEvent =>
  ({ eventId: r[2], productId: r[0], version: r[1], type: r[3], schemaVersion: r[4], occurredAt: r[6], data: r[5] }) as ProductEvent;

type SnapshotRow = [string, number, boolean, string, string, number, string, string | null, string, string];
function stateOf(r: SnapshotRow): ProductState {
  const state: ProductState = {
    id: r[0],
    name: r[3],
    description: r[4],
    priceCents: r[5],
    currency: r[6],
    version: r[1],
    deleted: r[2],
    createdAt: r[8],
    updatedAt: r[9],
  };
  if (r[7] !== null) state.category = r[7];
  return state;
}

/** Opens the session the stream runs in: the transaction, its view, and the settings the decoding relies on. */
async function begin(client: pg.Client) {
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  await client.query("SET LOCAL TimeZone = 'UTC'");
  await client.query("SET LOCAL DateStyle = 'ISO'");
}

async function withSnapshots(client: pg.Client, page: StreamedProduct[]): Promise<StreamedProduct[]> {
  const { rows } = await client.query<SnapshotRow>({ text: SNAPSHOTS_BETWEEN, values: [page[0]!.id, page.at(-1)!.id], rowMode: "array", types: DECODE });
  const byId = new Map(rows.map((r) => [r[0], r]));
  for (const p of page) {
    const row = byId.get(p.id);
    if (row) p.snapshot = stateOf(row);
  }
  return page;
}

/**
 * ReplaySource.streamProducts on a connection opened from `config` for this stream alone (the
 * pool's connections stay free for requests) and closed when the iteration ends, however it ends.
 */
export async function* streamProducts(config: pg.ClientConfig, after: string | null, pageSize: number, fetchRows = FETCH_ROWS): AsyncGenerator<StreamedProduct[]> {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, not ${pageSize}`);
  const client = new pg.Client(config);
  client.on("error", () => {}); // a broken connection fails the query in flight, which throws below
  let ahead: Promise<EventRow[]> | null = null;
  try {
    await client.connect();
    await begin(client);
    await client.query({ text: `DECLARE replay_events NO SCROLL CURSOR FOR ${EVENTS_IN_PRODUCT_ORDER}`, values: [after ?? ""] });
    const fetch = () => {
      const rows = client.query<EventRow>({ text: `FETCH ${fetchRows} FROM replay_events`, rowMode: "array", types: DECODE }).then((r) => r.rows);
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
            yield await withSnapshots(client, page);
            page = [];
          }
          current = { id: r[0], events: [], snapshot: null };
        }
        current.events.push(eventOf(r));
      }
    }
    if (current) page.push(current);
    if (page.length) yield await withSnapshots(client, page);
    await client.query("COMMIT");
  } finally {
    // Ended early (break, throw): let a fetch in flight finish, then close; the server ends the transaction.
    await ahead?.catch(() => {});
    await client.end().catch(() => {});
  }
}
