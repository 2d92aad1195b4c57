// The storefront, a second service reading its own namespace, against the real catalog api (served
// on a socket), PostgreSQL and Redis. Its evict consumer's part, the marker of each new version,
// is done here by marking the namespace as the consumer does (the e2e pipeline runs the consumer).
import { afterAll, describe, expect, test } from "bun:test";
import pino from "pino";
import { createCatalogSource } from "../../src/infra/catalog-client.ts";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { ProductSource } from "../../src/usecases/ports.ts";
import { createStorefrontApp } from "../../storefront/app.ts";
import { createHarness } from "../support/harness.ts";
import { createGate } from "../support/gate.ts";

const h = createHarness("store");
const asked: string[] = []; // what the storefront asked the catalog
const catalogServer = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request) {
    asked.push(new URL(request.url).pathname + new URL(request.url).search);
    return h.app.handle(request);
  },
});
const catalogUrl = `http://127.0.0.1:${catalogServer.port}`;
afterAll(async () => {
  await catalogServer.stop(true);
  await h.close();
});

const logger = pino({ level: "silent" });
const cache = createRedisCache(h.redis, { keyPrefix: h.prefix, namespace: "storefront", ttlSeconds: 600 });
function storefront(catalog: ProductSource = createCatalogSource({ baseUrl: catalogUrl })) {
  const app = createStorefrontApp({ catalog, cache, logger, lease: { leaseMs: 2000, waitMs: 200 } });
  return async (id: string) => {
    await cache.whenReady(5000);
    const res = await app.handle(new Request(`http://storefront/products/${id}`));
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, cache: res.headers.get("x-cache"), retryAfter: res.headers.get("retry-after") };
  };
}
/** What the evict consumer does with an event of this version. */
const invalidate = (id: string, version: number) => cache.mark([{ id, version }]);

describe("storefront", () => {
  test("a price change through the catalog api is served by the storefront once its invalidation arrives; the marker's version goes to the catalog", async () => {
    const get = storefront();
    const p = await h.create({ priceCents: 100 });
    expect(await get(p.id)).toMatchObject({ status: 200, cache: "miss", body: { version: 1, priceCents: 100 } });
    expect(await get(p.id)).toMatchObject({ status: 200, cache: "hit", body: { version: 1 } });
    await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 150 } });
    await invalidate(p.id, 2);
    asked.length = 0;
    expect(await get(p.id)).toMatchObject({ status: 200, cache: "miss", body: { version: 2, priceCents: 150 } });
    expect(asked).toEqual([`/products/${p.id}?minVersion=2`]);
    expect(await get(p.id)).toMatchObject({ status: 200, cache: "hit", body: { version: 2, priceCents: 150 } });
  });

  test("the stale-fill race across the two services is refused: a fill read before the invalidation never lands over it", async () => {
    const failpoint = createGate();
    const real = createCatalogSource({ baseUrl: catalogUrl });
    const slow: ProductSource = {
      ...real,
      async loadState(id, atLeast) {
        const state = await real.loadState(id, atLeast);
        await failpoint.point(); // armed: the read has the catalog's answer (v1) and stalls before filling
        return state;
      },
    };
    const get = storefront(slow);
    const p = await h.create({ priceCents: 100 });
    const held = failpoint.arm();
    const late = get(p.id);
    await held.reached;
    await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 200 } });
    await invalidate(p.id, 2);
    held.release();
    expect(await late).toMatchObject({ status: 200, body: { version: 1 } }); // current when it was read
    expect(await h.cached(p.id, "storefront")).toBe("2|m|"); // its fill was refused
    expect(await get(p.id)).toMatchObject({ status: 200, body: { version: 2, priceCents: 200 } });
  });

  test("once it has served version N it never serves an older one, while writes and invalidations go on", async () => {
    const get = storefront();
    const p = await h.create({ priceCents: 1 });
    let writing = true;
    const writer = (async () => {
      for (let price = 2; price <= 30; price++) {
        const r = await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: price } });
        await invalidate(p.id, r.body.version);
      }
      writing = false;
    })();
    const served: number[] = [];
    while (writing) served.push((await get(p.id)).body.version);
    await writer;
    served.push((await get(p.id)).body.version);
    expect(served.every((v, i) => i === 0 || v >= served[i - 1]!)).toBe(true);
    expect(served.at(-1)).toBe(30);
  });

  test("with the catalog api down: a hit is still served; past an invalidation, 503 with Retry-After, never the old version", async () => {
    const p = await h.create({ priceCents: 5 });
    expect((await storefront()(p.id)).body.version).toBe(1);
    const down = storefront(createCatalogSource({ baseUrl: "http://127.0.0.1:1", timeoutMs: 500 }));
    expect(await down(p.id)).toMatchObject({ status: 200, cache: "hit", body: { version: 1 } });
    await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 6 } });
    await invalidate(p.id, 2);
    expect(await down(p.id)).toMatchObject({ status: 503, retryAfter: "1", body: { error: { code: "UNAVAILABLE" } } });
  });

  test("a batch read answered below an invalidation by a lagging source asks for that product at its version, and serves no older data", async () => {
    const real = createCatalogSource({ baseUrl: catalogUrl });
    const p = await h.create({ priceCents: 10 });
    const v1 = (await real.loadState(p.id))!;
    // A source whose batch answers lag (as a catalog whose own cache is behind would).
    const lagging: ProductSource = { ...real, loadStates: async () => [v1] };
    const app = createStorefrontApp({ catalog: lagging, cache, logger });
    await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 11 } });
    await invalidate(p.id, 2);
    asked.length = 0;
    const res = await app.handle(new Request(`http://storefront/products?ids=${p.id}`));
    expect(await res.json()).toMatchObject({ items: [{ id: p.id, version: 2, priceCents: 11 }], missing: [] });
    expect(asked).toEqual([`/products/${p.id}?minVersion=2`]);
  });

  test("a client's minVersion above the catalog's version is 412 VERSION_NOT_REACHED with that version; an invalidation above it is 503, never the older data", async () => {
    const p = await h.create();
    const app = createStorefrontApp({ catalog: createCatalogSource({ baseUrl: catalogUrl }), cache, logger });
    await cache.whenReady(5000);
    const res = await app.handle(new Request(`http://storefront/products/${p.id}?minVersion=3`));
    expect([res.status, res.headers.get("etag"), res.headers.get("x-cache"), res.headers.get("cache-status"), await res.json()]).toEqual([
      412,
      '"1"',
      "miss", // the catalog answered (it refused); nothing was stored
      "catalog-cache; fwd=miss; detail=not-stored",
      { error: { code: "VERSION_NOT_REACHED", message: `product ${p.id} is at version 1, below minVersion 3`, details: { currentVersion: 1 } } },
    ]);
    // A marker of version 3 (announced, but the catalog answers 1): the catalog lags, not the client's ask.
    await invalidate(p.id, 3);
    expect(await storefront()(p.id)).toMatchObject({ status: 503, body: { error: { code: "UNAVAILABLE" } } });
    expect(await storefront()(`${p.id}?minVersion=1`)).toMatchObject({ status: 503, body: { error: { code: "UNAVAILABLE" } } });
    const batch = await app.handle(new Request(`http://storefront/products?ids=${p.id}`));
    expect([batch.status, ((await batch.json()) as { error: { code: string } }).error.code]).toEqual([503, "UNAVAILABLE"]);
  });

  test("an unknown id is 404, and a deleted product is 404 once its invalidation arrives", async () => {
    const get = storefront();
    expect((await get(h.id("never"))).status).toBe(404);
    const p = await h.create();
    expect((await get(p.id)).status).toBe(200);
    await h.call("DELETE", `/products/${p.id}`);
    await invalidate(p.id, 2);
    asked.length = 0;
    expect(await get(p.id)).toMatchObject({ status: 404, cache: "miss" });
    // The catalog's 404 named the deletion's version: its tombstone replaced the marker, so the
    // next reads are hits and the catalog is asked once (before, every read until the marker
    // expired went to the catalog).
    expect(await get(p.id)).toMatchObject({ status: 404, cache: "hit" });
    expect(await get(p.id)).toMatchObject({ status: 404, cache: "hit" });
    expect(asked).toEqual([`/products/${p.id}?minVersion=2`]);
    expect((await cache.get(p.id))).toMatchObject({ version: 2, kind: "t" });
  });
});
