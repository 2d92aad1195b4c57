// The PostgreSQL side's ports, one contract each, run against the real adapters (Prisma, pg, on a
// database of their own) and against the in-memory twins: the event store with its replay source,
// the relay's outbox store, and the replay's job store (Redis and its twin).
import { afterAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { decide } from "../../../src/catalog/decide.ts";
import type { ProductState } from "../../../src/catalog/product.ts";
import { createMemoryDatabase, createMemoryEventStore, createMemoryOutboxStore } from "../../../src/infra/memory/memory-database.ts";
import { createMemoryJobStore } from "../../../src/infra/memory/memory-jobs.ts";
import { createOutboxStore } from "../../../src/infra/outbox-store.ts";
import { createPrismaClient, createPrismaEventStore } from "../../../src/infra/prisma-event-store.ts";
import { createRedisJobStore } from "../../../src/infra/redis-jobs.ts";
import { afterEvents } from "../../../src/usecases/outbox-envelopes.ts";
import { ConcurrentAppendError, NotLeaderError, type EventStore, type JobStore, type OutboxStore, type ReplayJob, type ReplaySource, type StreamedProduct } from "../../../src/usecases/ports.ts";
import { deleteKeys, isolatedDatabase, testRedis, uniquePrefix } from "../../support/services.ts";

type Env = {
  store: EventStore & ReplaySource;
  outbox(): OutboxStore;
  dropSnapshot(id: string): Promise<void>;
  /** Rewrites an event as a newer api would have written it: another schema version, other data. */
  rewriteEvent(id: string, version: number, schemaVersion: number, data: object): Promise<void>;
};

const redis = testRedis();
const prefixes: string[] = [];

const database = await isolatedDatabase("ports");
const prisma = createPrismaClient(database.url, 2);
const opened: OutboxStore[] = [];
afterAll(async () => {
  for (const o of opened) await o.close();
  await prisma.$disconnect();
  await database.drop();
});
const real: Env = {
  store: createPrismaEventStore(prisma),
  dropSnapshot: async (id) => void (await prisma.productSnapshot.delete({ where: { id } })),
  rewriteEvent: async (id, version, schemaVersion, data) =>
    void (await prisma.event.update({ where: { productId_version: { productId: id, version } }, data: { schemaVersion, data } })),
  outbox: () => {
    const o = createOutboxStore(database.url, () => {});
    opened.push(o);
    return o;
  },
};
const memoryDb = createMemoryDatabase();
const twin: Env = {
  store: createMemoryEventStore(memoryDb),
  outbox: () => createMemoryOutboxStore(memoryDb),
  dropSnapshot: async (id) => void memoryDb.snapshots.delete(id),
  rewriteEvent: async (id, version, schemaVersion, data) => {
    const e = memoryDb.events.find((x) => x.productId === id && x.version === version)!;
    Object.assign(e, { schemaVersion, data });
  },
};

const ctx = (n: number) => ({ now: () => new Date(Date.UTC(2026, 10, 29, 0, 0, n)), newId: () => crypto.randomUUID() });
/** Decides a command on the store's current state and appends it, as the command executor does. */
async function write(store: EventStore, command: Parameters<typeof decide>[0], at: number | ReturnType<typeof ctx> = 0): Promise<ProductState> {
  const state = await store.loadState(command.id);
  const events = decide(command, state, typeof at === "number" ? ctx(at) : at);
  const { next, envelopes } = afterEvents(state, events);
  await store.append(events, next, envelopes);
  return next;
}
const fields = (priceCents: number) => ({ name: "Kettle", description: "", priceCents, currency: "EUR" });

describe.each([
  ["PostgreSQL (Prisma, pg)", real],
  ["in-memory twin", twin],
] as const)("event store, replay source and outbox: %s", (_name, env) => {
  // Ids of lower-case letters and digits only: PostgreSQL's collation and JavaScript order them alike.
  const p = `k${Math.random().toString(36).slice(2, 8)}`;

  test("an append stores the events, the snapshot and one outbox row per event, and a taken version is refused", async () => {
    const v1 = await write(env.store, { type: "CreateProduct", id: `${p}a`, fields: fields(100) }, 1);
    const v2 = await write(env.store, { type: "PatchProduct", id: `${p}a`, changes: { priceCents: 120 } }, 2);
    expect(await env.store.loadState(`${p}a`)).toEqual(v2);
    expect((await env.store.history(`${p}a`)).map((e) => [e.version, e.type])).toEqual([[1, "ProductCreated"], [2, "ProductUpdated"]]);
    expect((await env.store.loadStates([`${p}a`, `${p}none`])).map((s) => s.version)).toEqual([2]);
    // A second writer that decided on version 1 too.
    const stale = decide({ type: "PatchProduct", id: `${p}a`, changes: { priceCents: 1 } }, v1, ctx(3));
    const { next, envelopes } = afterEvents(v1, stale);
    await expect(env.store.append(stale, next, envelopes)).rejects.toBeInstanceOf(ConcurrentAppendError);
    expect((await env.store.history(`${p}a`)).length).toBe(2);
    expect(await env.store.loadState(`${p}a`)).toEqual(v2);
  });

  test("of two writers decided on one version, one commits and the other is refused without a trace; likewise two creates of one id", async () => {
    const v1 = await write(env.store, { type: "CreateProduct", id: `${p}g`, fields: fields(1) });
    const attempts = [2, 3].map((price, i) => {
      const events = decide({ type: "PatchProduct", id: `${p}g`, changes: { priceCents: price } }, v1, ctx(10 + i));
      return { events, ...afterEvents(v1, events) };
    });
    const results = await Promise.allSettled(attempts.map((a) => env.store.append(a.events, a.next, a.envelopes)));
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = results.findIndex((r) => r.status === "rejected");
    expect((results[lost] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrentAppendError);
    const history = await env.store.history(`${p}g`);
    expect(history.map((e) => [e.version, e.eventId])).toEqual([[1, history[0]!.eventId], [2, attempts[1 - lost]!.events[0]!.eventId]]);
    expect(await env.store.loadState(`${p}g`)).toEqual(attempts[1 - lost]!.next);

    const creates = [5, 6].map((price, i) => {
      const events = decide({ type: "CreateProduct", id: `${p}h`, fields: fields(price) }, null, ctx(20 + i));
      return { events, ...afterEvents(null, events) };
    });
    const made = await Promise.allSettled(creates.map((c) => env.store.append(c.events, c.next, c.envelopes)));
    expect(made.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const winner = made.findIndex((r) => r.status === "fulfilled");
    expect((await env.store.history(`${p}h`)).map((e) => e.eventId)).toEqual([creates[winner]!.events[0]!.eventId]);
    expect(await env.store.loadState(`${p}h`)).toEqual(creates[winner]!.next);
  });

  test("a deleted product's stream goes on when it is created again; a stale delete is refused", async () => {
    const v1 = await write(env.store, { type: "CreateProduct", id: `${p}i`, fields: fields(1) });
    await write(env.store, { type: "DeleteProduct", id: `${p}i` });
    const v3 = await write(env.store, { type: "CreateProduct", id: `${p}i`, fields: fields(9) });
    expect([v3.version, v3.deleted, v3.priceCents]).toEqual([3, false, 9]);
    expect(await env.store.loadState(`${p}i`)).toEqual(v3);
    const stale = decide({ type: "DeleteProduct", id: `${p}i` }, v1, ctx(4));
    const { next, envelopes } = afterEvents(v1, stale);
    await expect(env.store.append(stale, next, envelopes)).rejects.toBeInstanceOf(ConcurrentAppendError);
    expect((await env.store.history(`${p}i`)).map((e) => e.type)).toEqual(["ProductCreated", "ProductDeleted", "ProductCreated"]);
  });

  test("the replay source pages product ids, reads events in order, and knows the newest versions", async () => {
    for (const s of ["b", "c", "d"]) await write(env.store, { type: "CreateProduct", id: `${p}${s}`, fields: fields(1) });
    await write(env.store, { type: "DeleteProduct", id: `${p}c` });
    const mine = [`${p}b`, `${p}c`, `${p}d`];
    expect(await env.store.countProducts(mine)).toBe(3);
    const first = await env.store.productIdsAfter(`${p}a`, 2);
    expect(first).toEqual([`${p}b`, `${p}c`]);
    expect((await env.store.productIdsAfter(`${p}c`, 1))).toEqual([`${p}d`]);
    expect((await env.store.eventsOf([`${p}d`, `${p}c`])).map((e) => `${e.productId.slice(-1)}${e.version}`)).toEqual(["c1", "c2", "d1"]);
    expect(Object.fromEntries(await env.store.maxVersions([...mine, `${p}zz`]))).toEqual({ [`${p}b`]: 1, [`${p}c`]: 2, [`${p}d`]: 1 });
  });

  test("the replay stream reads every product after an id, in id order and pages, with its events and snapshot row as history and loadState read them", async () => {
    const s = (n: number) => `${p}s${n}`;
    await write(env.store, { type: "CreateProduct", id: s(1), fields: { ...fields(1999), category: "kitchen" } }, 1);
    await write(env.store, { type: "PatchProduct", id: s(1), changes: { priceCents: 2_000_000_000_00, category: null } }, 2);
    // Milliseconds in the timestamps: 5 ms and 120 ms (PostgreSQL prints ".005" and ".12").
    await write(env.store, { type: "CreateProduct", id: s(2), fields: fields(2) }, { now: () => new Date(Date.UTC(2026, 10, 29, 0, 0, 3, 5)), newId: () => crypto.randomUUID() });
    await write(env.store, { type: "DeleteProduct", id: s(2) }, { now: () => new Date(Date.UTC(2026, 10, 29, 0, 0, 4, 120)), newId: () => crypto.randomUUID() });
    await write(env.store, { type: "CreateProduct", id: s(3), fields: { ...fields(3), description: "tab\tquote\" é ✓" } }, 5);
    await write(env.store, { type: "CreateProduct", id: s(4), fields: fields(4) }, 6);
    await env.dropSnapshot(s(3)); // a product whose snapshot row is missing
    const mine = (id: string) => id.startsWith(`${p}s`);
    /** Every page of a stream from `after`, up to the first product not of this test. */
    const collect = async (after: string, pageSize: number, between?: (page: number) => Promise<void>) => {
      const pages: StreamedProduct[][] = [];
      for await (const page of env.store.streamProducts(after, pageSize)) {
        pages.push(page.filter((x) => mine(x.id)));
        if (!page.every((x) => mine(x.id))) break; // ends the stream early
        await between?.(pages.length);
      }
      return pages.filter((page) => page.length > 0);
    };

    const pages = await collect(`${p}s`, 3);
    expect(pages.map((page) => page.map((x) => x.id))).toEqual([[s(1), s(2), s(3)], [s(4)]]);
    for (const x of pages.flat()) {
      expect({ id: x.id, events: x.events }).toEqual({ id: x.id, events: await env.store.history(x.id) });
      expect({ id: x.id, snapshot: x.snapshot }).toEqual({ id: x.id, snapshot: await env.store.loadState(x.id) });
    }
    expect(pages[0]![2]!.snapshot).toBeNull();
    expect(pages[0]![1]!.events.map((e) => e.occurredAt)).toEqual(["2026-11-29T00:00:03.005Z", "2026-11-29T00:00:04.120Z"]);
    expect(pages[0]![0]!.snapshot).toMatchObject({ version: 2, priceCents: 2_000_000_000_00 });
    expect(pages[0]![0]!.snapshot).not.toHaveProperty("category");
    expect((await collect(s(2), 2)).map((page) => page.map((x) => x.id))).toEqual([[s(3), s(4)]]);

    // One view, taken when the stream starts: a write after the first page is not seen in the next.
    const late = await collect(`${p}s`, 1, async (page) => {
      if (page === 1) await write(env.store, { type: "PatchProduct", id: s(4), changes: { priceCents: 44 } }, 7);
    });
    expect(late.map((page) => page[0]!.id)).toEqual([s(1), s(2), s(3), s(4)]);
    expect(late[3]![0]!.events.map((e) => e.version)).toEqual([1]);
    expect(late[3]![0]!.snapshot).toMatchObject({ version: 1, priceCents: 4 });
    const now = (await collect(s(3), 1))[0]![0]!;
    expect([now.events.length, now.snapshot?.version, now.snapshot?.priceCents]).toEqual([2, 2, 44]);

    await expect(collect(`${p}s`, 0)).rejects.toBeInstanceOf(RangeError);
  });

  test("repairSnapshots writes what differs, and folds again a product that moved on since the replay read it", async () => {
    const v1 = await write(env.store, { type: "CreateProduct", id: `${p}e`, fields: fields(5) });
    expect(await env.store.repairSnapshots([v1])).toBe(0); // already right
    const v2 = await write(env.store, { type: "PatchProduct", id: `${p}e`, changes: { priceCents: 6 } });
    // The replay folded v1 before the write committed: its state must not go back over v2.
    expect(await env.store.repairSnapshots([v1])).toBe(0);
    expect(await env.store.loadState(`${p}e`)).toEqual(v2);
  });

  test("repairSnapshots leaves a row alone when the event it would fold again is of a newer schema (a newer api wrote it)", async () => {
    const v1 = await write(env.store, { type: "CreateProduct", id: `${p}s`, fields: fields(5) });
    const v2 = await write(env.store, { type: "PatchProduct", id: `${p}s`, changes: { priceCents: 6 } });
    // Schema 2's data, which this code would read as a price of 1234.
    await env.rewriteEvent(`${p}s`, 2, 2, { priceCents: 1234, price: { amount: 6, currency: "EUR" } });
    expect(await env.store.repairSnapshots([v1])).toBe(0);
    expect(await env.store.loadState(`${p}s`)).toEqual(v2);
  });

  test("one outbox store leads at a time; rows come in order, marked rows never again, and a commit wakes the waiter", async () => {
    const a = env.outbox();
    const b = env.outbox();
    expect(await a.tryLead()).toBe(true);
    expect(await b.tryLead()).toBe(false);
    await expect(b.fetchUnsent(10)).rejects.toBeInstanceOf(NotLeaderError);
    // Drain what the other tests wrote, then watch one write go through.
    await a.markSent((await a.fetchUnsent(1000)).map((r) => r.id));
    expect((await a.backlog()).rows).toBe(0);
    expect(await a.waitForNotify(20)).toBe("timeout");
    const woken = a.waitForNotify(10_000);
    await write(env.store, { type: "CreateProduct", id: `${p}f`, fields: fields(7) });
    await write(env.store, { type: "PatchProduct", id: `${p}f`, changes: { priceCents: 8 } });
    expect(await woken).toBe("notified");
    const rows = await a.fetchUnsent(10);
    expect(rows.map((r) => [r.productId, r.version])).toEqual([[`${p}f`, 1], [`${p}f`, 2]]);
    expect(JSON.parse(rows[1]!.payload)).toMatchObject({ productId: `${p}f`, version: 2, state: { priceCents: 8, version: 2 } });
    await a.markSent([rows[0]!.id]);
    expect((await a.fetchUnsent(10)).map((r) => r.version)).toEqual([2]);
    expect((await a.backlog()).rows).toBe(1);
    await a.assertLeading();
    // The leader goes: its session ends, and the standby takes over.
    await a.close();
    expect(await b.tryLead()).toBe(true);
    await b.assertLeading();
    expect((await b.fetchUnsent(10)).map((r) => r.version)).toEqual([2]);
    await b.close();
  });
});

// What the PostgreSQL adapter does beyond the contract: one statement per append (catalog_append),
// all or nothing, with the unique index as the last word, on the pg pool or through Prisma.
describe("event store on PostgreSQL: the one-statement append", () => {
  const p = `m${Math.random().toString(36).slice(2, 8)}`;
  const db = new pg.Pool({ connectionString: database.url, max: 1 });
  afterAll(() => db.end());

  test("several events in one append: the events, the outbox rows and their payloads in event order, the snapshot after them", async () => {
    const created = decide({ type: "CreateProduct", id: `${p}a`, fields: fields(1) }, null, ctx(1));
    const patched = decide({ type: "PatchProduct", id: `${p}a`, changes: { priceCents: 2 } }, afterEvents(null, created).next, ctx(2));
    const events = [...created, ...patched];
    const { next, envelopes } = afterEvents(null, events);
    await real.store.append(events, next, envelopes);
    expect(await real.store.loadState(`${p}a`)).toEqual(next);
    const stored = await db.query("SELECT event_id, version FROM events WHERE product_id = $1 ORDER BY position", [`${p}a`]);
    expect(stored.rows).toEqual(events.map((e) => ({ event_id: e.eventId, version: e.version })));
    const outbox = await db.query("SELECT event_id, version, payload FROM outbox WHERE product_id = $1 ORDER BY id", [`${p}a`]);
    expect(outbox.rows).toEqual(envelopes.map((e) => ({ event_id: e.eventId, version: e.version, payload: JSON.parse(JSON.stringify(e)) })));
  });

  test("a snapshot row behind its events: the unique index refuses the append, and nothing of it is written", async () => {
    await write(real.store, { type: "CreateProduct", id: `${p}b`, fields: fields(1) });
    await write(real.store, { type: "PatchProduct", id: `${p}b`, changes: { priceCents: 2 } });
    await db.query("UPDATE product_snapshots SET version = 1, price_cents = 1 WHERE id = $1", [`${p}b`]);
    const behind = (await real.store.loadState(`${p}b`))!;
    const events = decide({ type: "PatchProduct", id: `${p}b`, changes: { priceCents: 3 } }, behind, ctx(3));
    const { next, envelopes } = afterEvents(behind, events);
    await expect(real.store.append(events, next, envelopes)).rejects.toBeInstanceOf(ConcurrentAppendError);
    expect(await real.store.loadState(`${p}b`)).toEqual(behind);
    expect((await db.query("SELECT 1 FROM outbox WHERE event_id = $1", [events[0]!.eventId])).rowCount).toBe(0);
    expect((await real.store.history(`${p}b`)).map((e) => e.version)).toEqual([1, 2]);
  });

  test("a client used again after $disconnect appends through Prisma, with the same refusals", async () => {
    const client = createPrismaClient(database.url, 1);
    const store = createPrismaEventStore(client);
    try {
      const v1 = await write(store, { type: "CreateProduct", id: `${p}c`, fields: fields(1) });
      await client.$disconnect(); // ends the pg pool under it; Prisma opens another on the next query
      const v2 = await write(store, { type: "PatchProduct", id: `${p}c`, changes: { priceCents: 2 } });
      expect(await store.loadState(`${p}c`)).toEqual(v2);
      const stale = decide({ type: "PatchProduct", id: `${p}c`, changes: { priceCents: 3 } }, v1, ctx(4));
      const { next, envelopes } = afterEvents(v1, stale);
      await expect(store.append(stale, next, envelopes)).rejects.toBeInstanceOf(ConcurrentAppendError);
      const outbox = await db.query("SELECT version FROM outbox WHERE product_id = $1 ORDER BY id", [`${p}c`]);
      expect(outbox.rows.map((r) => r.version)).toEqual([1, 2]);
    } finally {
      await client.$disconnect();
    }
  });
});

describe.each([
  ["Redis", () => {
    const prefix = uniquePrefix("jobs");
    prefixes.push(prefix);
    return createRedisJobStore(redis, prefix);
  }],
  ["in-memory twin", () => createMemoryJobStore()],
] as const)("job store: %s", (_name, make) => {
  test("one full replay per namespace holds the lock; only its owner renews or releases it", async () => {
    const jobs: JobStore = make();
    expect(await jobs.tryLock("ns", "one", 10_000)).toBeNull();
    expect(await jobs.tryLock("ns", "two", 10_000)).toBe("one");
    expect(await jobs.tryLock("other", "two", 10_000)).toBeNull();
    expect(await jobs.renew("ns", "two", 10_000)).toBe(false);
    expect(await jobs.renew("ns", "one", 10_000)).toBe(true);
    await jobs.release("ns", "two");
    expect(await jobs.tryLock("ns", "two", 10_000)).toBe("one");
    await jobs.release("ns", "one");
    expect(await jobs.tryLock("ns", "two", 10_000)).toBeNull();
  });

  test("a saved job loads back as it was", async () => {
    const jobs: JobStore = make();
    const job = { jobId: "j1", status: "running", scope: "all", namespace: "ns", total: 3, missing: 0, missingIds: [], ratePerSecond: 0, errorSamples: [], startedAt: "2026-11-29T12:00:00.000Z", updatedAt: "2026-11-29T12:00:01.000Z", finishedAt: null, failure: null, processed: 1, snapshotsRepaired: 0, cacheWritten: 1, cacheRepaired: 0, cacheUnchanged: 0, cacheNewer: 0, errors: 0 } satisfies ReplayJob;
    await jobs.save(job);
    expect(await jobs.load("j1")).toEqual(job);
    expect(await jobs.load("nope")).toBeNull();
  });

  test("recent jobs come newest first, at most the limit asked for", async () => {
    const jobs: JobStore = make();
    const at = (s: number) => new Date(Date.UTC(2026, 10, 29, 12, 0, s)).toISOString();
    const job = (jobId: string, startedAt: string) =>
      ({ jobId, status: "completed", scope: "ids", namespace: "ns", total: 1, missing: 0, missingIds: [], ratePerSecond: 0, errorSamples: [], startedAt, updatedAt: startedAt, finishedAt: startedAt, failure: null, processed: 1, snapshotsRepaired: 0, cacheWritten: 1, cacheRepaired: 0, cacheUnchanged: 0, cacheNewer: 0, errors: 0 }) satisfies ReplayJob;
    expect(await jobs.recent(5)).toEqual([]);
    await jobs.save(job("b", at(2)));
    await jobs.save(job("a", at(1)));
    await jobs.save(job("c", at(3)));
    await jobs.save({ ...job("b", at(2)), processed: 7 }); // saved again: listed once, as saved last
    expect((await jobs.recent(5)).map((j) => [j.jobId, j.processed])).toEqual([["c", 1], ["b", 7], ["a", 1]]);
    expect((await jobs.recent(2)).map((j) => j.jobId)).toEqual(["c", "b"]);
  });
});

afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});
