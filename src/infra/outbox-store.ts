// The relay's view of the outbox table, on plain pg (the relay runs on Node, without Prisma).
//
// Order and completeness: per product, a later event's row is always inserted by a transaction
// that started after the earlier one committed (it read the earlier version), so id order is
// commit order per product. The relay never keeps a "read up to id N" cursor: it reads every row
// with sent_at IS NULL, so a row whose transaction commits late is picked up on the next pass.
//
// One active relay: a session-level advisory lock elects the leader; a second relay waits as a hot
// standby and takes over when the leader's session ends (process killed, connection lost).
import pg from "pg";

export const OUTBOX_CHANNEL = "catalog_outbox";
const LEADER_LOCK_KEY = 0x6361_7461; // arbitrary, fixed: "cata"

export type OutboxRow = { id: string; productId: string; version: number; payload: string; createdAt: Date };

export type OutboxStore = {
  /** True while this process holds the relay lock; tries to take it when it does not. */
  tryLead(): Promise<boolean>;
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

export function createOutboxStore(databaseUrl: string, onError: (err: Error) => void): OutboxStore {
  // The session holding the lock and the LISTEN; re-created (and the lock given up) on failure.
  let session: pg.Client | null = null;
  let leading = false;
  let wake: (() => void) | null = null;
  let notified = false;

  async function connect(): Promise<pg.Client> {
    if (session) return session;
    const client = new pg.Client({ connectionString: databaseUrl, application_name: "catalog-relay" });
    client.on("error", (err) => {
      onError(err);
      if (session === client) {
        session = null;
        leading = false;
      }
      client.end().catch(() => {});
    });
    client.on("notification", () => {
      notified = true;
      wake?.();
    });
    await client.connect();
    await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    session = client;
    return client;
  }

  async function query<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
    const client = await connect();
    try {
      return await client.query<T>(text, values);
    } catch (err) {
      // A broken session may have lost the lock: drop it, so the next call reconnects and re-elects.
      if (!(err instanceof pg.DatabaseError)) {
        session = null;
        leading = false;
        client.end().catch(() => {});
      }
      throw err;
    }
  }

  return {
    async tryLead() {
      if (leading && session) return true;
      const { rows } = await query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [LEADER_LOCK_KEY]);
      leading = rows[0]!.locked;
      return leading;
    },
    async fetchUnsent(limit) {
      notified = false;
      const { rows } = await query<{ id: string; product_id: string; version: number; payload: string; created_at: Date }>(
        // ORDER BY outbox.id, the bigint: a bare "id" would name an output column, and a text one
        // sorts "10" before "9". (pg returns bigint as a string, without a cast.)
        "SELECT id, product_id, version, payload::text AS payload, created_at FROM outbox WHERE sent_at IS NULL ORDER BY outbox.id LIMIT $1",
        [limit],
      );
      return rows.map((r) => ({ id: r.id, productId: r.product_id, version: r.version, payload: r.payload, createdAt: r.created_at }));
    },
    async markSent(ids) {
      await query("UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", [ids]);
    },
    async backlog() {
      const { rows } = await query<{ n: string; age: number | null }>(
        "SELECT count(*)::text AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox WHERE sent_at IS NULL",
      );
      return { rows: Number(rows[0]!.n), oldestAgeSeconds: rows[0]!.age ?? 0 };
    },
    async purgeSent(olderThanSeconds, limit) {
      const { rowCount } = await query(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE sent_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2)",
        [olderThanSeconds, limit],
      );
      return rowCount ?? 0;
    },
    waitForNotify(timeoutMs) {
      if (notified) {
        notified = false;
        return Promise.resolve("notified");
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve("timeout");
        }, timeoutMs);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve("notified");
        };
      });
    },
    wakeUp() {
      wake?.();
    },
    async close() {
      wake?.();
      const s = session;
      session = null;
      leading = false;
      if (s) await s.end().catch(() => {}); // ends the session: the lock goes with it
    },
  };
}
