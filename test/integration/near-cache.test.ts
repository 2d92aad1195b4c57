// The near cache (L1) of two api instances sharing one Redis namespace, each kept right by the
// change feed (the compare-and-set scripts publish every change): through app.handle against real
// PostgreSQL and Redis. Staleness is set to a minute here, so only the feed (and, by default, the
// read barrier) can make an instance let go of an entry. First without the barrier
// (L1_READ_BARRIER=false: answers at once), then with it.
import { afterAll, describe, expect, test } from "bun:test";
import { keyLayout } from "../../src/infra/cache-format.ts";
import { createHarness } from "../support/harness.ts";
import { waitFor } from "../support/services.ts";

const l1 = { maxStalenessMs: 60_000, heartbeatMs: 200, readBarrier: false };
const a = createHarness("l1", { l1 });
const b = createHarness("l1", { l1, prefix: a.prefix });
afterAll(async () => {
  await b.close();
  await a.close();
});

const version = async (h: typeof a, id: string, query = "") => {
  const r = await h.call("GET", `/products/${id}${query}`);
  expect(r.status).toBe(200);
  return { version: r.body.version as number, status: r.headers.get("cache-status"), xCache: r.headers.get("x-cache") };
};

describe("near cache across two api instances, answering at once", () => {
  test("a hit from L1 says so; a write through one instance reaches the other's L1 through the feed, and its own at once", async () => {
    const p = await a.create();
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold the product");
    expect((await version(b, p.id)).xCache).toBe("hit");
    expect((await a.call("PATCH", `/products/${p.id}`, { body: { priceCents: 2 } })).status).toBe(200);
    // The writer's own L1 has version 2 at once (its write-through).
    expect(await version(a, p.id)).toEqual({ version: 2, status: "catalog-cache; hit; detail=l1", xCache: "hit" });
    // The other instance lets go of version 1 when the message arrives, and never goes back.
    const seen: number[] = [];
    await waitFor(async () => (seen.push((await version(b, p.id)).version), seen.at(-1) === 2), 5000, "b to see version 2");
    expect(seen.filter((v, i) => i > 0 && v < seen[i - 1]!)).toEqual([]);
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold version 2");
    // The counts are on /metrics.
    const metrics = (await b.call("GET", "/metrics")).text;
    expect(Number(/^catalog_l1_events_total\{[^}]*event="hits"[^}]*\} (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^catalog_l1_entries(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  });

  test("?minVersion passes over an L1 entry below it", async () => {
    const p = await a.create();
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold the product");
    // Version 2 reaches Redis without a message (as if the message were still on its way).
    const entry = await b.redis.get(b.key(p.id));
    expect((await a.call("PATCH", `/products/${p.id}`, { body: { priceCents: 3 } })).status).toBe(200);
    const v2 = await b.redis.get(b.key(p.id));
    await b.redis.set(b.key(p.id), entry!); // b's L1 must be behind Redis for this test: put 1 back
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold version 1 again");
    await b.redis.set(b.key(p.id), v2!);
    expect(await version(b, p.id)).toEqual({ version: 1, status: "catalog-cache; hit; detail=l1", xCache: "hit" }); // L1 is behind
    const r = await version(b, p.id, "?minVersion=2");
    expect(r.version).toBe(2);
    expect(r.status).not.toContain("detail=l1");
  });

  test("a sequence that skips (a lost message) empties the other instance's L1", async () => {
    const p = await a.create();
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold the product");
    const gapsBefore = b.l1Stats()!.gaps;
    const layout = keyLayout(a.prefix, "catalog", false);
    const sequence = layout.sequenceOf(layout.fences[0]!);
    const next = Number((await a.redis.get(sequence)) ?? 0) + 5; // as if four messages were lost
    await a.redis.set(sequence, String(next));
    await a.redis.publish(layout.channel, `${sequence}|${next}|1|p|${layout.entry("someone-else")}`);
    await waitFor(() => b.l1Stats()!.gaps > gapsBefore, 5000, "b to see the gap");
    expect((await version(b, p.id)).status).not.toContain("detail=l1");
  });

  test("while the feed is silent (its connection killed) L1 steps aside and empties, then comes back", async () => {
    const p = await a.create();
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "b's L1 to hold the product");
    await a.redis.call("CLIENT", "KILL", "TYPE", "pubsub"); // every subscriber of this Redis, a's and b's
    expect((await a.call("PATCH", `/products/${p.id}`, { body: { priceCents: 4 } })).status).toBe(200); // its message may be lost
    await waitFor(async () => (await version(b, p.id)).version === 2, 5000, "b to answer version 2");
    // The feeds resubscribe by themselves and L1 answers again.
    await waitFor(async () => (await version(b, p.id)).status === "catalog-cache; hit; detail=l1", 10_000, "b's L1 to answer again");
    expect((await version(b, p.id)).version).toBe(2);
  });
});

describe("near cache across two api instances, behind the read barrier (the default)", () => {
  const barrier = { maxStalenessMs: 60_000, heartbeatMs: 200 };
  const c = createHarness("l1b", { l1: barrier });
  const d = createHarness("l1b", { l1: barrier, prefix: c.prefix });
  afterAll(async () => {
    await d.close();
    await c.close();
  });
  const held = async (h: typeof c, id: string) => {
    await waitFor(async () => (await version(h, id)).status === "catalog-cache; hit; detail=l1", 5000, "L1 to hold the product");
  };

  test("a write through one instance is answered by the other at once, then from its L1 again", async () => {
    const p = await c.create();
    await held(d, p.id);
    expect((await c.call("PATCH", `/products/${p.id}`, { body: { priceCents: 2 } })).status).toBe(200);
    // No waiting for the message: the barrier sees the change count move.
    expect((await version(d, p.id)).version).toBe(2);
    await held(d, p.id);
    expect((await version(d, p.id)).version).toBe(2);
  });

  test("a write whose message is still on its way: the other instance answers it, not its older L1 entry", async () => {
    const p = await c.create();
    await held(d, p.id);
    // Version 2 lands in Redis and the change count moves, as the script does, but the message is
    // not published yet (it is "on its way"): only the barrier can know.
    expect((await c.call("PATCH", `/products/${p.id}`, { body: { priceCents: 3 } })).status).toBe(200);
    const v2 = await c.redis.get(c.key(p.id));
    expect((await c.call("PATCH", `/products/${p.id}`, { body: { priceCents: 4 } })).status).toBe(200);
    await held(d, p.id); // d's L1 holds version 3
    const layout = keyLayout(c.prefix, "catalog", false);
    const sequence = layout.sequenceOf(layout.fences[0]!);
    await c.redis.set(c.key(p.id), v2!.replace(/^2\|/, "4|").replace('"version":2', '"version":4')); // version 4, written without a message
    await c.redis.incr(sequence);
    const r = await version(d, p.id);
    expect([r.version, r.status]).toEqual([4, "catalog-cache; hit"]);
  });

  test("changes of other products heard through the feed leave an entry answering from L1", async () => {
    const p = await c.create();
    await held(d, p.id);
    const hitsBefore = d.l1Stats()!.hits;
    for (let i = 0; i < 5; i++) await c.create();
    // Once the five messages have arrived, p is answered from L1 without going to Redis.
    await waitFor(async () => (await version(d, p.id)).status === "catalog-cache; hit; detail=l1", 5000, "d's L1 to answer p after others changed");
    expect(d.l1Stats()!.hits).toBeGreaterThan(hitsBefore);
  });
});
