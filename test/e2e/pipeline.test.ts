// The pipeline alone keeps every service's cache right: the api's write-through is off here, so
// only outbox → relay → Kafka → consumers fill the "catalog" (rebuild) and "storefront" (evict)
// namespaces. Real PostgreSQL, Redis, Kafka broker and processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { createApp } from "../../src/app.ts";
import { createPrismaClient, createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { EventStore } from "../../src/usecases/ports.ts";
import { createPipeline, dumpTopic, http, kafkaTool, quantile, startSampler, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

let p: Pipeline;
let api: Awaited<ReturnType<Pipeline["startApi"]>>;
let relay: Awaited<ReturnType<Pipeline["startRelay"]>>;
let catalog: Awaited<ReturnType<Pipeline["startConsumer"]>>;
let storefront: Awaited<ReturnType<Pipeline["startConsumer"]>>;

beforeAll(async () => {
  p = await createPipeline("pipe");
  [api, relay, catalog, storefront] = await Promise.all([
    p.startApi(),
    p.startRelay(),
    p.startConsumer("catalog", "rebuild"),
    p.startConsumer("storefront", "evict"),
  ]);
});
afterAll(() => p.close());

const metricsPort = (proc: { output(): string }) => Number(/"metricsPort":(\d+)/.exec(proc.output())![1]);
async function metric(proc: { output(): string }, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort(proc)}/metrics`)).text();
  return [...text.matchAll(new RegExp(pattern.source + " ([0-9.e+-]+)", "gm"))].reduce((sum, m) => sum + Number(m[1]), 0);
}

describe("when many writes go through HTTP", () => {
  test("then every service's cache reaches the latest version of every product, and never goes back", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `${p.prefix}-w${i}`);
    const sampler = startSampler(p, ["catalog", "storefront"], () => ids, 2);
    const acks = new Map<string, number>(); // `${id}|${version}` → when the write was acknowledged
    const write = async (id: string, method: string, path: string, body?: unknown) => {
      const r = await http(api.url, method, path, body);
      expect(r.status).toBeLessThan(300);
      acks.set(`${id}|${Number(r.headers.get("etag")!.replaceAll('"', ""))}`, performance.now());
    };
    await Promise.all(ids.map((id) => write(id, "POST", "/products", { id, name: `P ${id}`, priceCents: 100, currency: "EUR" })));
    // The keys were empty, so the creates go in as markers even in rebuild mode (a consumer cannot
    // know that an event is the newest); a read fills version 1, and from then on the rebuild
    // consumer advances that data with each event's state.
    await waitFor(async () => (await p.cachedVersions("catalog", ids)).every((v) => v === 1), 20_000, "the markers of the creates");
    for (const id of ids) expect((await http(api.url, "GET", `/products/${id}`)).headers.get("x-cache")).toBe("miss");
    expect(await Promise.all(ids.map((id) => p.cachedEntry("catalog", id)))).toEqual(ids.map(() => expect.stringMatching(/^1\|p\|/)));
    for (let round = 1; round <= 6; round++) {
      await Promise.all(
        ids.map((id, i) =>
          round === 6 && i % 5 === 0 ? write(id, "DELETE", `/products/${id}`) : write(id, "PATCH", `/products/${id}`, { priceCents: 100 + round }),
        ),
      );
    }
    const latest = await p.latestVersions(ids);
    const want = ids.map((id) => latest.get(id)!);
    for (const ns of ["catalog", "storefront"]) {
      await waitFor(async () => JSON.stringify(await p.cachedVersions(ns, ids)) === JSON.stringify(want), 20_000, `${ns} to reach the latest versions`);
    }
    await Bun.sleep(20);
    await sampler.stop();
    expect(sampler.regressions).toEqual([]);

    // catalog (rebuild) holds the state itself, advanced by the consumer; storefront (evict) holds markers, and its reads fill from PostgreSQL.
    const storefrontApi = await p.startApi({ CACHE_NAMESPACE: "storefront" });
    for (const id of ids) {
      const fromCatalog = await http(api.url, "GET", `/products/${id}`);
      const fromStorefront = await http(storefrontApi.url, "GET", `/products/${id}`);
      const deleted = ids.indexOf(id) % 5 === 0;
      expect([fromCatalog.status, fromCatalog.headers.get("x-cache")]).toEqual([deleted ? 404 : 200, "hit"]);
      expect([fromStorefront.status, fromStorefront.headers.get("x-cache")]).toEqual([deleted ? 404 : 200, "miss"]);
      if (!deleted) expect(fromStorefront.body).toEqual(fromCatalog.body);
    }
    storefrontApi.kill("SIGTERM");

    const latencies = [...acks].flatMap(([k, ackedAt]) => {
      const [id, v] = k.split("|");
      const seen = sampler.firstSeen.get(`catalog|${id}|${v}`);
      return seen === undefined ? [] : [Math.max(0, seen - ackedAt)];
    });
    latencies.sort((a, b) => a - b);
    console.log(
      `commit-to-cache (catalog, sampled every 2 ms, ${latencies.length} of ${acks.size} writes seen): p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`,
    );
    expect(latencies.length).toBeGreaterThan(acks.size / 4); // many versions were seen as they landed (2 ms sampling)
    // Every event applied in order: none arrived after a newer one of its product. The creates went
    // in as markers (empty keys), every later event as the state over the filled data.
    expect(await metric(catalog, /^catalog_consumer_events_total\{outcome="applied_as_marker"[^}]*\}/)).toBe(ids.length);
    expect(await metric(catalog, /^catalog_consumer_events_total\{outcome="applied"[^}]*\}/)).toBe(ids.length * 6);
    expect(await metric(catalog, /^catalog_consumer_events_total\{outcome="skipped_older"[^}]*\}/)).toBe(0);
    expect(await metric(catalog, /^catalog_commit_to_cache_seconds_count\{[^}]*\}/)).toBeGreaterThan(0);
    expect(await metric(relay, /^catalog_relay_published_total\{[^}]*\}/)).toBeGreaterThanOrEqual(ids.length * 7);
  });
});

describe("evict mode", () => {
  test("when a reader read N and fills after the invalidation of N+1 was applied, the fill is refused and the next read returns N+1", async () => {
    // An in-process reader for the storefront namespace whose database read we can hold.
    let hold: { read: () => void; release: Promise<void> } | null = null;
    const prisma = createPrismaClient(p.databaseUrl, 2);
    const real = createPrismaEventStore(prisma);
    const gated: EventStore = {
      ...real,
      async loadState(id) {
        const s = await real.loadState(id);
        if (hold) {
          const h = hold;
          hold = null;
          h.read();
          await h.release;
        }
        return s;
      },
    };
    const cache = createRedisCache(p.redis, { keyPrefix: p.prefix, namespace: "storefront", ttlSeconds: 600 });
    const logger = pino({ level: "silent" });
    const reader = createApp({ store: gated, cache, writer: null, logger });
    const get = async (id: string) => {
      const r = await reader.handle(new Request(`http://localhost/products/${id}`));
      return { status: r.status, cache: r.headers.get("x-cache"), version: ((await r.json()) as { version?: number }).version };
    };

    const id = `${p.prefix}-race`;
    expect((await http(api.url, "POST", "/products", { id, name: "Race", priceCents: 1, currency: "EUR" })).status).toBe(201);
    await waitFor(async () => (await p.cachedEntry("storefront", id)) === "1|m|", 10_000, "the v1 marker");

    let release!: () => void;
    const read = new Promise<void>((resolve) => {
      hold = { read: resolve, release: new Promise<void>((r) => (release = r)) };
    });
    const pending = get(id); // marker → miss → reads v1 from PostgreSQL, then waits
    await read;
    expect((await http(api.url, "PATCH", `/products/${id}`, { priceCents: 2 })).status).toBe(200);
    await waitFor(async () => (await p.cachedEntry("storefront", id)) === "2|m|", 10_000, "the v2 invalidation");

    release(); // the late fill of v1 arrives after the invalidation of v2
    expect(await pending).toEqual({ status: 200, cache: "miss", version: 1 });
    expect(await p.cachedEntry("storefront", id)).toBe("2|m|");
    expect(await get(id)).toEqual({ status: 200, cache: "miss", version: 2 });
    expect(await get(id)).toEqual({ status: 200, cache: "hit", version: 2 });
    await prisma.$disconnect();
  });
});

describe("poison messages", () => {
  test("go to the dead-letter topic with the reason, and the good messages behind them are applied", async () => {
    const id = `${p.prefix}-poison`;
    const good = {
      eventId: crypto.randomUUID(),
      productId: id,
      version: 1,
      type: "ProductCreated",
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      data: { name: "Good", description: "", priceCents: 5, currency: "EUR" },
      state: { id, name: "Good", description: "", priceCents: 5, currency: "EUR", version: 1, updatedAt: new Date().toISOString() },
    };
    const lines = [
      { value: JSON.stringify(good) }, // no key
      { key: id, value: "{not json" },
      { key: id, value: JSON.stringify({ ...good, type: "ProductRenamed" }) },
      { key: id, value: JSON.stringify({ ...good, schemaVersion: 99 }) },
      { key: id, value: JSON.stringify(good) }, // same key, so the same partition, behind the poison
      // From a newer producer mid-deploy: unreadable here, yet its version still fences both caches.
      { key: id, value: JSON.stringify({ ...good, eventId: crypto.randomUUID(), version: 2, type: "ProductRenamed", state: { ...good.state, version: 2 } }) },
    ];
    await kafkaTool(["produce", p.topic], lines.map((l) => JSON.stringify(l)).join("\n"));

    // The key was empty, so even in rebuild mode the good event went in as a marker (see
    // consume-event.ts); the unreadable version 2 then raised both namespaces' markers.
    await waitFor(async () => (await p.cachedEntry("catalog", id)) === "2|m|", 15_000, "the version-2 fence in catalog");
    await waitFor(async () => (await p.cachedEntry("storefront", id)) === "2|m|", 15_000, "the version-2 fence in storefront");
    const dead = await waitFor(async () => {
      const all = await dumpTopic(p.dlqTopic);
      return all.length >= 10 ? all : null;
    }, 15_000, "10 dead letters (5 per group)");
    const byGroup = (group: string) => dead.filter((m) => m.headers["x-dlq-group"] === group).map((m) => m.headers["x-dlq-reason"]).sort();
    const reasons = ["future-schema", "malformed-json", "missing-key", "unknown-type", "unknown-type"];
    expect(byGroup(`${p.prefix}.catalog`)).toEqual(reasons);
    expect(byGroup(`${p.prefix}.storefront`)).toEqual(reasons);
    expect(dead.every((m) => /^e2e\.[^/]+\/\d+\/\d+$/.test(m.headers["x-dlq-source"]!))).toBe(true);
    expect(await metric(catalog, /^catalog_consumer_events_total\{outcome="dead_lettered"[^}]*\}/)).toBe(5);
    expect(await metric(catalog, /^catalog_consumer_events_total\{outcome="fenced_unreadable"[^}]*\}/)).toBe(3);

    // After a fix, the dead letters go back: one group's five, to the topic they came from, as they were.
    await kafkaTool(["redrive", p.dlqTopic, `${p.prefix}.catalog`]);
    const redriven = await waitFor(async () => {
      const all = (await dumpTopic(p.topic)).filter((m) => m.headers["x-redriven-from"]);
      return all.length >= 5 ? all : null;
    }, 15_000, "the redriven messages on the topic");
    const poisoned = lines.filter((_, i) => i !== 4); // all but the good, keyed message
    expect(redriven.map((m) => m.value).sort()).toEqual(poisoned.map((l) => l.value).sort());
    expect(redriven.some((m) => Object.keys(m.headers).some((k) => k.startsWith("x-dlq-")))).toBe(false);
    // This consumer still cannot read them: dead-lettered again, by both groups.
    await waitFor(async () => (await dumpTopic(p.dlqTopic)).length >= 20, 15_000, "the redriven messages dead-lettered again");
  });
});

describe("shutdown", () => {
  test("on SIGTERM the relay and the consumers stop cleanly", async () => {
    for (const proc of [relay, catalog, storefront]) proc.kill("SIGTERM");
    expect(await Promise.all([relay.exited, catalog.exited, storefront.exited])).toEqual([0, 0, 0]);
    for (const proc of [relay, catalog, storefront]) expect(proc.output()).toContain('"msg":"stopped"');
  });
});
