// The relay's view of the outbox table, on plain pg (the relay runs on Node, without Prisma).
//
// Order and completeness: per product, a later event's row is always inserted by a transaction
// that started after the earlier one committed (it read the earlier version), so id order is
// commit order per product. The relay never keeps a "read up to id N" cursor: it reads every row
// with sent_at IS NULL, so a row whose transaction commits late is picked up on the next pass.
//
// One active relay: a session-level advisory lock elects the leader; a second relay waits as a hot
// standby and takes over when the leader's session ends (process killed, connection lost, session
// terminated). Leadership belongs to the session that took the lock: the unsent rows are read on
// that session only, in a statement that checks that it still holds the lock, and a lost session
// is never silently replaced by a new one (which would not hold the lock) in the middle of a pass.
import pg from "pg";
import { NotLeaderError, type OutboxStore } from "../usecases/ports.ts";
import { createNotifyLatch } from "./notify-latch.ts";
import { OUTBOX_CHANNEL } from "./outbox-table.ts";

const LEADER_LOCK_KEY = 0x6361_7461; // arbitrary, fixed: "cata"
// How pg_locks shows pg_try_advisory_lock(bigint) of this key: classid = high 32 bits, objid = low 32 bits, objsubid = 1.
const HOLDS_LOCK = `EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = ${LEADER_LOCK_KEY} AND objsubid = 1 AND pid = pg_backend_pid() AND granted)`;

/**
 * How a silent network drop ends: the store runs a query on its session at least every
 * HEARTBEAT_MS (a heartbeat when the relay itself did not, during a long publish say), so a session
 * idle for IDLE_SESSION_TIMEOUT_S is one whose relay can no longer reach PostgreSQL: the server
 * ends it, and the advisory lock with it, so a standby leads within that time. The relay's own side gives up a query after QUERY_TIMEOUT_MS
 * (and a connection attempt after CONNECT_TIMEOUT_MS), then reconnects; TCP keepalive covers a
 * peer that vanished without a reset.
 */
export const IDLE_SESSION_TIMEOUT_S = 15;
const HEARTBEAT_MS = 3_000;
const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;

export function createOutboxStore(databaseUrl: string, onError: (err: Error) => void, options: { idleSessionTimeoutS?: number } = {}): OutboxStore {
  const idleTimeout = options.idleSessionTimeoutS ?? IDLE_SESSION_TIMEOUT_S;
  // The session holding the LISTEN (and, while leading, the lock); re-created on failure.
  let session: pg.Client | null = null;
  // The session that took the lock; leadership ends with it.
  let leaderSession: pg.Client | null = null;
  const latch = createNotifyLatch();
  let lastQuery = Date.now();
  const heartbeat = setInterval(() => {
    if (session && Date.now() - lastQuery >= HEARTBEAT_MS) void run(session, "SELECT 1").catch(() => {});
  }, HEARTBEAT_MS);
  heartbeat.unref?.();

  const drop = (client: pg.Client) => {
    if (session === client) session = null;
    if (leaderSession === client) leaderSession = null;
    client.end().catch(() => {});
  };

  async function connect(): Promise<pg.Client> {
    if (session) return session;
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: "catalog-relay",
      keepAlive: true,
      keepAliveInitialDelayMillis: 5_000,
      query_timeout: QUERY_TIMEOUT_MS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    client.on("error", (err) => {
      onError(err);
      drop(client);
    });
    client.on("notification", () => latch.notify());
    try {
      await client.connect();
      // Server side: end this session if the relay goes silent (see IDLE_SESSION_TIMEOUT_S), and
      // probe its TCP connection every 5 s after 5 s of silence.
      await client.query(
        `SET idle_session_timeout = '${idleTimeout}s'; SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; LISTEN ${OUTBOX_CHANNEL}`,
      );
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    session = client;
    return client;
  }

  async function run<T extends pg.QueryResultRow>(client: pg.Client, text: string, values: unknown[] = []): Promise<pg.QueryResult<T>> {
    lastQuery = Date.now();
    try {
      return await client.query<T>(text, values);
    } catch (err) {
      // A broken session may have lost the lock: drop it, so the next tryLead reconnects and re-elects.
      if (!(err instanceof pg.DatabaseError)) drop(client);
      throw err;
    }
  }
  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => run<T>(await connect(), text, values);
  /** The session that took the lock, or NotLeaderError: never a fresh session, which would not hold it. */
  const leader = () => {
    if (!leaderSession || leaderSession !== session) throw new NotLeaderError();
    return leaderSession;
  };

  return {
    async tryLead() {
      if (leaderSession && leaderSession === session) return true;
      const client = await connect();
      const { rows } = await run<{ locked: boolean }>(client, "SELECT pg_try_advisory_lock($1) AS locked", [LEADER_LOCK_KEY]);
      if (rows[0]!.locked && session === client) leaderSession = client;
      return leaderSession === client;
    },
    async assertLeading() {
      const client = leader();
      const { rows } = await run<{ held: boolean }>(client, `SELECT ${HOLDS_LOCK} AS held`);
      if (!rows[0]!.held) {
        if (leaderSession === client) leaderSession = null;
        throw new NotLeaderError("this relay's session no longer holds the outbox lock");
      }
    },
    async fetchUnsent(limit) {
      const client = leader();
      latch.clear();
      // One statement: the lock check and the rows. ORDER BY outbox.id, the bigint: a bare "id"
      // would name an output column, and a text one sorts "10" before "9". (pg returns bigint as
      // a string, without a cast.)
      const { rows } = await run<{ held: boolean; id: string | null; product_id: string; version: number; payload: string; created_at: Date }>(
        client,
        `SELECT held.v AS held, o.id, o.product_id, o.version, o.payload, o.created_at
           FROM (SELECT ${HOLDS_LOCK} AS v) held
           LEFT JOIN LATERAL (
             SELECT id, product_id, version, payload::text AS payload, created_at FROM outbox
              WHERE sent_at IS NULL ORDER BY outbox.id LIMIT $1
           ) o ON held.v
          ORDER BY o.id`,
        [limit],
      );
      if (!rows[0]?.held) {
        if (leaderSession === client) leaderSession = null;
        throw new NotLeaderError("this relay's session no longer holds the outbox lock");
      }
      return rows.filter((r) => r.id !== null).map((r) => ({ id: r.id!, productId: r.product_id, version: r.version, payload: r.payload, createdAt: r.created_at }));
    },
    async markSent(ids) {
      await run(leader(), "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])", [ids]);
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
      return latch.wait(timeoutMs);
    },
    wakeUp() {
      latch.wakeUp();
    },
    async close() {
      clearInterval(heartbeat);
      latch.wakeUp();
      const s = session;
      session = null;
      leaderSession = null;
      if (s) await s.end().catch(() => {}); // ends the session: the lock goes with it
    },
  };
}
