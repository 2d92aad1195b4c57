// The version fence on every path that writes Redis or PostgreSQL, each with the interleaving that
// broke it forced by a failpoint, a paused connection or a held transaction (never a sleep):
// - a failed write-through, then newer writes, the key's expiry and a reconnect;
// - Redis flushed or restarted empty while a consumer has a backlog;
// - a failover to a replica that lacks the last writes;
// - a fill, or a replay page, that read PostgreSQL before Redis lost data;
// - a replay's snapshot repair racing a live write;
// - a full replay whose page is slower than its lock.
// Redis servers of the tests' own (so they may be flushed, restarted and failed over) and a
// database of its own (a full replay reads every product).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import pino from "pino";
import { createApp } from "../../src/app.ts";
import { fold } from "../../src/catalog/evolve.ts";
import { cacheKey, decodeEntry } from "../../src/infra/cache-format.ts";
import { createPrismaClient, createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient } from "../../src/infra/redis-cache.ts";
import { createRedisJobStore } from "../../src/infra/redis-jobs.ts";
import { isServable } from "../../src/usecases/cache-entry.ts";
import { createCacheWriter } from "../../src/usecases/cache-writer.ts";
import { createEventConsumer, type RawMessage } from "../../src/usecases/consume-event.ts";
import type { EventStore, ReplaySource } from "../../src/usecases/ports.ts";
import { createReplayRunner } from "../../src/usecases/replay-jobs.ts";
import { createGate } from "../support/gate.ts";
import { isolatedDatabase, testRedis, uniquePrefix, waitFor } from "../support/services.ts";
import { startSpareRedis } from "../support/spare-redis.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const prefix = uniquePrefix("fence");
let database: Awaited<ReturnType<typeof isolatedDatabase>>;
let prisma: ReturnType<typeof createPrismaClient>;
let store: EventStore & ReplaySource;
let db: pg.Pool;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  database = await isolatedDatabase("fence");
  prisma = createPrismaClient(database.url, 5);
  store = createPrismaEventStore(prisma);
  db = new pg.Pool({ connectionString: database.url, max: 3 });
});
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await db.end();
  await prisma.$disconnect();
  await database.drop();
});

let seq = 0;
const newId = (label: string) => `${prefix}-${label}-${++seq}`;

/** An api in-process over the given Redis, with the production client settings; its reads can be held after PostgreSQL. */
async function stack(redisUrl: string, options: { commandTimeoutMs?: number } = {}) {
  const client = createRedisClient(redisUrl, options.commandTimeoutMs ?? 200);
  client.on("error", () => {}); // connection errors are part of these tests
  const cache = createRedisCache(client, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 600, fenceCheckMs: 100 });
  expect(await cache.whenReady(5000)).toBe(true);
  const writer = createCacheWriter(cache, logger, { retryMs: 50 });
  const afterRead = createGate();
  const gated: EventStore = {
    ...store,
    async loadState(id) {
      const state = await store.loadState(id);
      await afterRead.point(); // between the read of PostgreSQL and the fill
      return state;
    },
  };
  const app = createApp({ store: gated, cache, writer, logger, lease: { leaseMs: 2000, waitMs: 0 } });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.handle(
      new Request(`http://localhost${path}`, { method, headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined }),
    );
    const text = await res.text();
    return { status: res.status, cache: res.headers.get("x-cache"), version: res.status === 200 ? (JSON.parse(text).version as number) : null };
  };
  const close = () => {
    writer.close();
    client.disconnect();
  };
  cleanup.push(close);
  return { client, cache, writer, call, afterRead, close };
}

async function spareRedis() {
  const server = await startSpareRedis({ persistent: false });
  const probe = testRedis(server.url);
  probe.on("error", () => {});
  cleanup.push(async () => {
    probe.disconnect();
    await server.dispose();
  });
  return { server, probe };
}

const entryIn = async (probe: ReturnType<typeof testRedis>, id: string) => decodeEntry(await probe.get(cacheKey(prefix, "catalog", id)));

/**
 * The store, with a full replay's stream stopping at `gate` once it has read the page that holds
 * `id` (any page when omitted), before the replay gets that page.
 */
function gatedStream(gate: ReturnType<typeof createGate>, id?: string): ReplaySource {
  return {
    ...store,
    async *streamProducts(after, pageSize) {
      for await (const page of store.streamProducts(after, pageSize)) {
        if (id === undefined || page.some((p) => p.id === id)) await gate.point();
        yield page;
      }
    },
  };
}

/** The outbox's envelopes of a product: what the relay put on the topic, as the consumer receives them. */
async function backlogOf(id: string): Promise<RawMessage[]> {
  const { rows } = await db.query<{ id: string; payload: string }>("SELECT id::text, payload::text FROM outbox WHERE product_id = $1 ORDER BY id", [id]);
  const bytes = (s: string) => new TextEncoder().encode(s);
  return rows.map((r) => ({ topic: "t", partition: 0, offset: r.id, key: bytes(id), value: bytes(r.payload), headers: {} }));
}

describe("a write-through that failed", () => {
  test("is never written back over newer data: after newer writes, a delete, the key's expiry and a reconnect, the deleted product stays deleted", async () => {
    const { probe, server } = await spareRedis();
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: server.port });
    cleanup.push(() => proxy.stop());
    const s = await stack(proxy.url, { commandTimeoutMs: 100 });
    const id = newId("wt");
    expect((await s.call("POST", "/products", { id, name: "Lamp", priceCents: 1, currency: "EUR" })).status).toBe(201);

    proxy.pause(); // the write-through of version 2 times out (and reaches Redis later)
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    expect(s.writer.pendingCount()).toBe(1);
    proxy.resume();
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 3 })).version).toBe(3);
    expect((await s.call("DELETE", `/products/${id}`)).status).toBe(204);
    expect(await entryIn(probe, id)).toMatchObject({ version: 4, kind: "t" });

    await probe.del(cacheKey(prefix, "catalog", id)); // the TTL passes
    let readies = 0;
    s.client.on("ready", () => readies++);
    proxy.dropAll(); // a reconnect: the moment a remembered write-through used to be retried
    await waitFor(() => readies > 0 && s.cache.epoch() !== null, 5000, "the reconnect");
    await s.writer.retryPending();

    const entry = await entryIn(probe, id);
    expect(entry === null || entry.kind === "m" || entry.version >= 4).toBe(true);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ status: 404 });
    expect(s.writer.pendingCount()).toBe(0);
  });
});

describe("when Redis loses data while a consumer has a backlog", () => {
  for (const loss of ["FLUSHALL", "a restart without persistence"] as const) {
    test(`(${loss}) the backlog's old states never become hits, and reads never go below what was served`, async () => {
      const { probe, server } = await spareRedis();
      const s = await stack(server.url);
      const id = newId("backlog");
      expect((await s.call("POST", "/products", { id, name: "Kettle", priceCents: 1, currency: "EUR" })).status).toBe(201);
      for (let v = 2; v <= 30; v++) expect((await s.call("PATCH", `/products/${id}`, { priceCents: v })).version).toBe(v);
      expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 30, cache: "hit" });
      const served = [30];

      const before = s.cache.epoch();
      if (loss === "FLUSHALL") await probe.flushall();
      else {
        await server.stop();
        await server.start();
      }
      await waitFor(() => s.cache.epoch() !== null && s.cache.epoch() !== before, 5000, "the api to find the fence moved");

      // The consumer was behind: events 1..25 arrive now, into the empty key, batch by batch.
      const consumerClient = createRedisClient(server.url, 500);
      cleanup.push(() => consumerClient.disconnect());
      const consumerCache = createRedisCache(consumerClient, { keyPrefix: prefix, namespace: "catalog", ttlSeconds: 600 });
      expect(await consumerCache.whenReady(5000)).toBe(true);
      const outcomes: string[] = [];
      const consume = createEventConsumer({
        cache: consumerCache,
        mode: "rebuild",
        logger,
        stopping: () => false,
        deadLetter: async () => {
          throw new Error("no poison here");
        },
        observe: { applied: (_s, outcome) => outcomes.push(outcome), skippedOlder: () => outcomes.push("older"), deadLettered: () => {}, fencedUnreadable: () => {}, cacheError: () => {} },
      });
      const backlog = (await backlogOf(id)).slice(0, 25);
      for (let i = 0; i < backlog.length; i += 5) {
        await consume(backlog.slice(i, i + 5));
        const entry = await entryIn(probe, id);
        expect(entry && isServable(entry, s.cache.epoch()) ? entry.version : 30).toBeGreaterThanOrEqual(30);
        const r = await s.call("GET", `/products/${id}`);
        served.push(r.version!);
      }
      expect(served.every((v) => v === 30)).toBe(true);
      expect(outcomes.filter((o) => o === "stored")).toEqual([]); // every old state went in as a marker, or was refused
      consumerClient.disconnect();
    });
  }
});

describe("a failover to a replica that lacks the last writes", () => {
  test("serves none of the replica's entries: the fence moves, and reads go to PostgreSQL until refilled", async () => {
    const primary = await spareRedis();
    const replica = await spareRedis();
    await replica.probe.replicaof("127.0.0.1", primary.server.port);
    await waitFor(async () => /master_link_status:up/.test(await replica.probe.info("replication")), 10_000, "the replica to sync");
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: primary.server.port });
    cleanup.push(() => proxy.stop());
    const s = await stack(proxy.url);
    const id = newId("failover");
    expect((await s.call("POST", "/products", { id, name: "Vase", priceCents: 1, currency: "EUR" })).status).toBe(201);
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    await waitFor(async () => (await entryIn(replica.probe, id))?.version === 2, 10_000, "the replica to hold version 2");

    await replica.probe.replicaof("NO", "ONE"); // replication stops here: the replica keeps version 2
    for (let v = 3; v <= 4; v++) expect((await s.call("PATCH", `/products/${id}`, { priceCents: v })).version).toBe(v);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 4, cache: "hit" });
    const epochBefore = s.cache.epoch();

    proxy.switchTo({ host: "127.0.0.1", port: replica.server.port }); // the replica is promoted behind the same address
    proxy.dropAll();
    const served: number[] = [];
    const deadline = Date.now() + 5000;
    while ((s.cache.epoch() === null || s.cache.epoch() === epochBefore) && Date.now() < deadline) served.push((await s.call("GET", `/products/${id}`)).version!);
    for (let i = 0; i < 3; i++) served.push((await s.call("GET", `/products/${id}`)).version!);
    expect(await entryIn(replica.probe, id)).toMatchObject({ version: 4 }); // refilled from PostgreSQL
    expect(new Set(served)).toEqual(new Set([4]));
    expect(s.cache.epoch()).not.toBe(epochBefore);
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 5 })).version).toBe(5);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 5, cache: "hit" });
  });
});

describe("a fill that read PostgreSQL before Redis lost data", () => {
  test("is refused, so the older version it read never becomes a hit", async () => {
    const { probe, server } = await spareRedis();
    const s = await stack(server.url);
    const id = newId("fill");
    expect((await s.call("POST", "/products", { id, name: "Cup", priceCents: 1, currency: "EUR" })).status).toBe(201);
    await probe.del(cacheKey(prefix, "catalog", id)); // cold: the reader will miss

    const held = s.afterRead.arm();
    const reader = s.call("GET", `/products/${id}`); // misses, reads version 1, waits before its fill
    await held.reached;
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2, cache: "hit" });
    await probe.flushall(); // Redis loses everything, version 2 included
    held.release(); // the fill of version 1 arrives now, into the empty key
    expect(await reader).toMatchObject({ status: 200, version: 1 }); // what PostgreSQL said when it was read
    const entry = await entryIn(probe, id);
    expect(entry === null || !isServable(entry, s.cache.epoch()) || entry.version >= 2).toBe(true);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2 });
  });
});

describe("a replay", () => {
  test("reads a page again when Redis lost data after the page's events were read", async () => {
    const { probe, server } = await spareRedis();
    const s = await stack(server.url);
    const id = newId("replay");
    expect((await s.call("POST", "/products", { id, name: "Bowl", priceCents: 1, currency: "EUR" })).status).toBe(201);
    const afterEvents = createGate();
    const gatedSource: ReplaySource = {
      ...store,
      async eventsOf(ids) {
        const events = await store.eventsOf(ids);
        await afterEvents.point();
        return events;
      },
    };
    const runner = createReplayRunner({ source: gatedSource, cacheFor: () => s.cache, jobs: createRedisJobStore(s.client, prefix), logger, defaultNamespace: "catalog" });
    const held = afterEvents.arm();
    const { done } = await runner.start({ productIds: [id] });
    await held.reached; // the replay read version 1
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2, cache: "hit" });
    const before = s.cache.epoch();
    await probe.flushall();
    await waitFor(() => s.cache.epoch() !== null && s.cache.epoch() !== before, 5000, "the api to find the fence moved");
    held.release();
    const job = await done;
    expect(job).toMatchObject({ status: "completed", errors: 0 });
    expect(await entryIn(probe, id)).toMatchObject({ version: 2, kind: "p" });
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2, cache: "hit" });
  });

  test("in full, reads the stream again from the page whose write met a moved fence, under the new epoch", async () => {
    const { probe, server } = await spareRedis();
    const s = await stack(server.url);
    const id = newId("stream-fence");
    expect((await s.call("POST", "/products", { id, name: "Pan", priceCents: 1, currency: "EUR" })).status).toBe(201);
    const pageRead = createGate();
    const runner = createReplayRunner({ source: gatedStream(pageRead, id), cacheFor: () => s.cache, jobs: createRedisJobStore(s.client, prefix), logger, defaultNamespace: "catalog" });
    const held = pageRead.arm();
    const { done } = await runner.start({});
    await held.reached; // the stream's view holds version 1
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    const before = s.cache.epoch();
    await probe.flushall();
    await waitFor(() => s.cache.epoch() !== null && s.cache.epoch() !== before, 5000, "the api to find the fence moved");
    held.release();
    const job = await done;
    expect(job).toMatchObject({ status: "completed", errors: 0 });
    // Version 1 under the new epoch would be servable and older than what was served: the page was read again.
    expect(await entryIn(probe, id)).toMatchObject({ version: 2, kind: "p", epoch: s.cache.epoch() });
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2, cache: "hit" });
  });

  test("in full, never writes back what its stream read once a write landed after it: neither the cache entry nor the snapshot row", async () => {
    const { probe, server } = await spareRedis();
    const s = await stack(server.url);
    const id = newId("stream-late");
    expect((await s.call("POST", "/products", { id, name: "Cup", priceCents: 1, currency: "EUR" })).status).toBe(201);
    // A wrong snapshot row, so that the replay repairs it with what its view holds (version 1).
    await db.query("UPDATE product_snapshots SET description = 'tampered' WHERE id = $1", [id]);
    const pageRead = createGate();
    const seen: number[] = [];
    const source: ReplaySource = {
      ...store,
      async *streamProducts(after, pageSize) {
        for await (const page of gatedStream(pageRead, id).streamProducts(after, pageSize)) {
          for (const p of page) if (p.id === id) seen.push(p.events.length);
          yield page;
        }
      },
    };
    const runner = createReplayRunner({ source, cacheFor: () => s.cache, jobs: createRedisJobStore(s.client, prefix), logger, defaultNamespace: "catalog" });
    const held = pageRead.arm();
    const { done } = await runner.start({});
    await held.reached; // the stream read version 1 and the tampered row
    // A write lands: committed (its row says version 2), cached by the write-through.
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    expect(await entryIn(probe, id)).toMatchObject({ version: 2 });
    held.release();
    const job = await done;
    expect(job).toMatchObject({ status: "completed", errors: 0 });
    expect(seen).toEqual([1]); // the replay worked from version 1
    expect(job.cacheNewer).toBeGreaterThanOrEqual(1);
    expect(await entryIn(probe, id)).toMatchObject({ version: 2, kind: "p" });
    expect(await s.call("GET", `/products/${id}`)).toMatchObject({ version: 2 });
    const snapshot = await store.loadState(id);
    expect(snapshot).toMatchObject({ version: 2, priceCents: 2, description: "" });
    expect(snapshot).toEqual(fold(await store.history(id)));
  });

  test("never rolls a snapshot back: its repair waits for a live write's row lock, then folds the events again", async () => {
    const id = newId("snap");
    const { server } = await spareRedis();
    const s = await stack(server.url);
    expect((await s.call("POST", "/products", { id, name: "Jug", priceCents: 1, currency: "EUR" })).status).toBe(201);
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 2 })).version).toBe(2);
    const folded = fold(await store.history(id))!; // what a replay read: version 2

    // A live write of version 3, holding the snapshot row's lock, not yet committed.
    const writer = await db.connect();
    try {
      await writer.query("BEGIN");
      await writer.query(
        `INSERT INTO events (event_id, product_id, version, type, schema_version, data, occurred_at)
         VALUES (gen_random_uuid(), $1, 3, 'ProductUpdated', 1, '{"priceCents": 3}', now())`,
        [id],
      );
      await writer.query("UPDATE product_snapshots SET version = 3, price_cents = 3, updated_at = now() WHERE id = $1", [id]);

      const repair = store.repairSnapshots([folded]);
      await waitFor(async () => {
        const { rows } = await db.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        return rows[0].n > 0;
      }, 10_000, "the repair to wait for the row lock");
      await writer.query("COMMIT");
      expect(await repair).toBe(0); // the row already equals the events
    } finally {
      writer.release();
    }
    const snapshot = await store.loadState(id);
    expect(snapshot).toMatchObject({ version: 3, priceCents: 3 });
    expect(snapshot).toEqual(fold(await store.history(id)));
    expect((await s.call("PATCH", `/products/${id}`, { priceCents: 4 })).version).toBe(4); // still writable
  });
});

describe("a full replay whose page is slower than its lock", () => {
  test("keeps the lock and stays running (renewed by a timer), and stops as failed when the lock is lost", async () => {
    const { server } = await spareRedis();
    const s = await stack(server.url);
    const id = newId("slow");
    expect((await s.call("POST", "/products", { id, name: "Tray", priceCents: 1, currency: "EUR" })).status).toBe(201);
    const slowPage = createGate();
    const gatedSource = gatedStream(slowPage);
    const jobs = createRedisJobStore(s.client, prefix);
    const LOCK_TTL = 600;
    const runner = createReplayRunner({ source: gatedSource, cacheFor: () => s.cache, jobs, logger, defaultNamespace: "catalog", lockTtlMs: LOCK_TTL, staleAfterMs: 1500 });

    let held = slowPage.arm();
    const first = await runner.start({});
    await held.reached;
    await Bun.sleep(LOCK_TTL * 4); // the lock's lifetime is the behaviour here: four of them pass during one page
    await expect(runner.start({})).rejects.toMatchObject({ code: "REPLAY_RUNNING", details: { jobId: first.job.jobId } });
    expect((await runner.get(first.job.jobId))?.status).toBe("running");
    held.release();
    expect(await first.done).toMatchObject({ status: "completed", errors: 0 });

    held = slowPage.arm();
    const second = await runner.start({});
    await held.reached;
    await s.client.set(`${prefix}:catalog:replay:lock`, "another-job", "PX", 60_000); // the lock expired and another took it
    // Two heartbeats after that (each renews, then saves the job): the second began after the lock changed hands.
    for (let beats = 0; beats < 2; beats++) {
      const at = (await runner.get(second.job.jobId))!.updatedAt;
      await waitFor(async () => (await runner.get(second.job.jobId))!.updatedAt !== at, 5000, "a heartbeat");
    }
    held.release();
    const ended = await second.done;
    expect(ended.status).toBe("failed");
    expect(ended.failure).toContain("lock");
    expect(await s.client.get(`${prefix}:catalog:replay:lock`)).toBe("another-job"); // not released: it is not ours
  });
});
