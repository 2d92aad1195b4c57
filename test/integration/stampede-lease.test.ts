// Stampede protection, made deterministic: two api instances (one process here, two apps), one
// holding the fill lease while its database read is held back. The test moves on when the store
// and cache ports it hands each instance show the step happened (a read begun, a lease refused and
// the cache polled), never after a pause.
import { afterAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { createApp } from "../../src/app.ts";
import { createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { cacheKey, createRedisCache } from "../../src/infra/redis-cache.ts";
import type { EventStore, ProductCache } from "../../src/usecases/ports.ts";
import { createHarness } from "../support/harness.ts";
import { waitFor } from "../support/services.ts";

const h = createHarness("lease");
afterAll(() => h.close());

function instance(waitMs: number) {
  let held: Promise<void> | null = null;
  let reads = 0;
  const real = createPrismaEventStore(h.prisma);
  const store: EventStore = {
    ...real,
    async loadState(id) {
      reads++;
      const s = await real.loadState(id);
      if (held) await held;
      return s;
    },
  };
  // Counts the polls of a miss that found the lease taken: a waiter for another instance's fill.
  let refused = 0;
  let polls = 0;
  const redis = createRedisCache(h.redis, { keyPrefix: h.prefix, namespace: "catalog", ttlSeconds: 600 });
  const cache: ProductCache = {
    ...redis,
    async acquireLease(id, token, ttlMs) {
      const taken = await redis.acquireLease(id, token, ttlMs);
      if (!taken) refused++;
      return taken;
    },
    async get(id) {
      if (refused > 0) polls++;
      return redis.get(id);
    },
  };
  const app = createApp({ store, cache, writer: null, logger: pino({ level: "silent" }), lease: { leaseMs: 5000, waitMs } });
  return {
    reads: () => reads,
    /** Resolves once this instance's database read has begun (the lease is then taken). */
    reading: () => waitFor(() => reads > 0, 5000, "the database read to begin"),
    /** Resolves once a miss here found the lease taken and polls the cache for the holder's fill. */
    waiting: () => waitFor(() => refused > 0 && polls > 0, 5000, "a miss to find the lease taken and poll the cache"),
    hold() {
      let release!: () => void;
      held = new Promise((r) => (release = r));
      return () => {
        held = null;
        release();
      };
    },
    async get(id: string) {
      const r = await app.handle(new Request(`http://localhost/products/${id}`));
      return { status: r.status, cache: r.headers.get("x-cache"), body: await r.json() };
    },
  };
}

describe("a miss while another instance holds the fill lease", () => {
  test("waits for that fill and reads nothing from PostgreSQL", async () => {
    const p = await h.create();
    await h.redis.del(cacheKey(h.prefix, "catalog", p.id));
    const a = instance(2000);
    const b = instance(2000);
    const release = a.hold();
    const first = a.get(p.id); // takes the lease, reads, then waits
    await a.reading();
    const second = b.get(p.id); // finds the lease: polls the cache
    await b.waiting();
    release();
    expect(await first).toEqual({ status: 200, cache: "miss", body: p });
    expect(await second).toEqual({ status: 200, cache: "hit", body: p });
    expect([a.reads(), b.reads()]).toEqual([1, 0]);
  });

  test("reads PostgreSQL itself when the fill does not come within the wait", async () => {
    const p = await h.create();
    await h.redis.del(cacheKey(h.prefix, "catalog", p.id));
    const a = instance(2000);
    const b = instance(100);
    const release = a.hold();
    const first = a.get(p.id);
    await a.reading();
    const started = performance.now();
    const second = await b.get(p.id); // gives up after 100 ms
    expect(second).toEqual({ status: 200, cache: "miss", body: p });
    expect(performance.now() - started).toBeGreaterThanOrEqual(100); // the wait is the behaviour
    expect(b.reads()).toBe(1);
    release();
    await first;
  });
});

describe("an id that was never created", () => {
  test("is cached as absent: the lease holder's waiters get the 404 at once, a storm costs one database read, and the create wins", async () => {
    const id = h.id("ghost");
    const a = instance(2000);
    const b = instance(2000);
    const release = a.hold();
    const first = a.get(id); // takes the lease, reads nothing, waits
    await a.reading();
    const started = performance.now();
    const second = b.get(id); // finds the lease: polls the cache
    await b.waiting();
    release();
    expect((await first).status).toBe(404);
    expect((await second).status).toBe(404);
    expect(performance.now() - started).toBeLessThan(1000); // not the whole 2 s wait: released by the "absent" entry
    const storm = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).get(id)));
    expect(storm.every((r) => r.status === 404 && r.cache === "hit")).toBe(true);
    expect([a.reads(), b.reads()]).toEqual([1, 0]); // one database read for 102 requests
    expect(await h.cached(id)).toBe("0|n|");

    const created = await h.create({ id }); // version 1 replaces "absent" (version 0)
    expect(await a.get(id)).toEqual({ status: 200, cache: "hit", body: created });
  });
});
