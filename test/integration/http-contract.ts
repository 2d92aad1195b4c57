// The HTTP contract, through app.handle against real PostgreSQL and Redis: http.test.ts runs it on
// one Redis server, http-cluster.test.ts on a Redis Cluster.
import { afterAll, describe, expect, test } from "bun:test";
import { createHarness } from "../support/harness.ts";

export function httpContract(options: { cluster: boolean }) {
  const h = createHarness(options.cluster ? "httpc" : "http", { cluster: options.cluster });
  afterAll(() => h.close());

  const teapot = { name: "Teapot", description: "cast iron", priceCents: 2500, currency: "EUR", category: "kitchen" };

  describe("POST /products", () => {
    test("when a valid product is posted, then it is stored at version 1 with Location and ETag", async () => {
      const id = h.id();
      const r = await h.call("POST", "/products", { body: { id, ...teapot } });
      expect(r.status).toBe(201);
      expect(r.headers.get("location")).toBe(`/products/${id}`);
      expect(r.headers.get("etag")).toBe('"1"');
      expect(r.body).toEqual({ id, ...teapot, version: 1, updatedAt: expect.any(String) });
      const events = await h.prisma.event.findMany({ where: { productId: id } });
      expect(events.map((e) => [e.version, e.type])).toEqual([[1, "ProductCreated"]]);
      const outbox = await h.prisma.outboxMessage.findMany({ where: { productId: id } });
      expect(outbox.map((o) => (o.payload as { state: unknown }).state)).toEqual([r.body]);
    });

    test("when no id is given, then one is generated", async () => {
      const r = await h.call("POST", "/products", { body: { name: "Cup", priceCents: 0, currency: "USD" } });
      expect(r.status).toBe(201);
      expect(r.body.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(r.body.description).toBe("");
    });

    test("when the id exists, then 409 ALREADY_EXISTS with the current version", async () => {
      const p = await h.create();
      const r = await h.call("POST", "/products", { body: { id: p.id, ...teapot } });
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({ code: "ALREADY_EXISTS", details: { currentVersion: 1 } });
    });

    test("when the write commits, then the API's cache holds the new state before the reply", async () => {
      const p = await h.create();
      expect(await h.cached(p.id)).toBe(`1|p|${JSON.stringify(p)}`);
    });
  });

  describe("GET /products/:id", () => {
    test("a cold read is a miss that fills the cache; the next read is a hit", async () => {
      const p = await h.create();
      await h.redis.del(h.key(p.id));
      const first = await h.call("GET", `/products/${p.id}`);
      expect([first.status, first.headers.get("x-cache"), first.headers.get("etag"), first.body]).toEqual([200, "miss", '"1"', p]);
      const second = await h.call("GET", `/products/${p.id}`);
      expect([second.status, second.headers.get("x-cache"), second.body]).toEqual([200, "hit", p]);
    });

    test("If-None-Match with the current ETag gives 304", async () => {
      const p = await h.create();
      const r = await h.call("GET", `/products/${p.id}`, { headers: { "if-none-match": '"1"' } });
      expect([r.status, r.text, r.headers.get("etag")]).toEqual([304, "", '"1"']);
      const stale = await h.call("GET", `/products/${p.id}`, { headers: { "if-none-match": '"0", W/"7"' } });
      expect(stale.status).toBe(200);
    });

    test("minVersion newer than the cached entry reads PostgreSQL (read-your-writes)", async () => {
      const p = await h.create();
      // Another instance committed v2 but this cache still holds v1.
      await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 1 } });
      await h.plant(p.id, `1|p|${JSON.stringify(p)}`);
      const plain = await h.call("GET", `/products/${p.id}`);
      expect([plain.headers.get("x-cache"), plain.body.version]).toEqual(["hit", 1]);
      const ryw = await h.call("GET", `/products/${p.id}?minVersion=2`);
      expect([ryw.headers.get("x-cache"), ryw.body.version, ryw.body.priceCents]).toEqual(["miss", 2, 1]);
      expect((await h.call("GET", `/products/${p.id}`)).body.version).toBe(2);
    });

    test("minVersion above PostgreSQL's version is 412 VERSION_NOT_REACHED with the current version, never a 200 of an older one", async () => {
      const p = await h.create();
      const expected = (cache: string) => ({
        status: 412,
        etag: '"1"',
        cache,
        body: { error: { code: "VERSION_NOT_REACHED", message: `product ${p.id} is at version 1, below minVersion 2`, details: { currentVersion: 1 } } },
      });
      const answer = async (init: Parameters<typeof h.call>[2] = {}) => {
        const r = await h.call("GET", `/products/${p.id}?minVersion=2`, init);
        return { status: r.status, etag: r.headers.get("etag"), cache: r.headers.get("x-cache"), body: r.body };
      };
      // The cached v1 is passed over; PostgreSQL is at 1 too.
      expect(await answer()).toEqual(expected("miss"));
      // Not cached at all: the same answer from PostgreSQL.
      await h.redis.del(h.key(p.id));
      expect(await answer()).toEqual(expected("miss"));
      // The unmet condition comes before If-None-Match: no 304 of version 1.
      expect(await answer({ headers: { "if-none-match": '"1"' } })).toEqual(expected("miss"));
      // Once the write is committed, the same request is served.
      await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 3 } });
      const ok = await h.call("GET", `/products/${p.id}?minVersion=2`);
      expect([ok.status, ok.headers.get("etag"), ok.body.priceCents]).toEqual([200, '"2"', 3]);
      expect((await h.call("GET", `/products/${p.id}?minVersion=1`)).status).toBe(200);
    });

    test("a deleted product's 404 names the deletion's version; a minVersion above it is 412 VERSION_NOT_REACHED", async () => {
      const p = await h.create();
      expect((await h.call("DELETE", `/products/${p.id}`)).status).toBe(204);
      const answer = async (query = "") => {
        const r = await h.call("GET", `/products/${p.id}${query}`);
        return { status: r.status, etag: r.headers.get("etag"), code: r.body.error.code, current: r.body.error.details?.currentVersion };
      };
      const gone = { status: 404, etag: '"2"', code: "NOT_FOUND", current: undefined };
      expect(await answer()).toEqual(gone); // the tombstone, cached by the delete
      expect(await answer("?minVersion=2")).toEqual(gone);
      expect(await answer("?minVersion=3")).toEqual({ status: 412, etag: '"2"', code: "VERSION_NOT_REACHED", current: 2 });
      await h.redis.del(h.key(p.id)); // the same from PostgreSQL
      expect(await answer("?minVersion=3")).toEqual({ status: 412, etag: '"2"', code: "VERSION_NOT_REACHED", current: 2 });
      expect(await answer()).toEqual(gone);
    });

    test("an unknown id is 404 NOT_FOUND", async () => {
      const r = await h.call("GET", `/products/${h.id("ghost")}`);
      expect([r.status, r.body.error.code]).toEqual([404, "NOT_FOUND"]);
    });
  });

  describe("PUT and PATCH /products/:id", () => {
    test("PUT replaces every field; an omitted category is removed", async () => {
      const p = await h.create({ category: "tea" });
      const r = await h.call("PUT", `/products/${p.id}`, { body: { name: "Big teapot", priceCents: 4000, currency: "GBP" } });
      expect([r.status, r.headers.get("etag")]).toEqual([200, '"2"']);
      expect(r.body).toEqual({ id: p.id, name: "Big teapot", description: "", priceCents: 4000, currency: "GBP", version: 2, updatedAt: expect.any(String) });
      expect((await h.call("GET", `/products/${p.id}`)).body).toEqual(r.body);
    });

    test("PATCH changes only the given fields", async () => {
      const p = await h.create({ category: "tea" });
      const r = await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 1999, category: null } });
      expect(r.body).toEqual({ ...p, priceCents: 1999, category: undefined, version: 2, updatedAt: expect.any(String) });
      expect(r.body.category).toBeUndefined();
    });

    test("a write with the current values changes nothing and keeps the version", async () => {
      const p = await h.create();
      const r = await h.call("PATCH", `/products/${p.id}`, { body: { name: p.name } });
      expect([r.status, r.body.version]).toEqual([200, 1]);
      expect(await h.prisma.event.count({ where: { productId: p.id } })).toBe(1);
    });

    test("If-Match with the current version applies; with an old one gives 412 and the current version", async () => {
      const p = await h.create();
      const ok = await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 1 }, headers: { "if-match": '"1"' } });
      expect(ok.status).toBe(200);
      const stale = await h.call("PUT", `/products/${p.id}`, { body: { ...teapot }, headers: { "if-match": '"1"' } });
      expect([stale.status, stale.body.error.code, stale.body.error.details.currentVersion]).toEqual([412, "VERSION_CONFLICT", 2]);
    });

    test("writing an unknown product is 404", async () => {
      const r = await h.call("PUT", `/products/${h.id("ghost")}`, { body: teapot });
      expect([r.status, r.body.error.code]).toEqual([404, "NOT_FOUND"]);
    });

    test("concurrent writes to one product all land, each at its own version", async () => {
      const p = await h.create();
      const replies = await Promise.all(
        Array.from({ length: 10 }, (_, i) => h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 100 + i } })),
      );
      expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(replies.map((r) => r.body.version).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const events = await h.prisma.event.findMany({ where: { productId: p.id }, orderBy: { version: "asc" } });
      expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const cached = await h.call("GET", `/products/${p.id}`);
      expect(cached.body.version).toBe(11);
    });

    test("when two API instances write one product at once, every write lands at its own version", async () => {
      const other = createHarness("http-b"); // a second app: its own executor, same database
      try {
        const p = await h.create();
        const replies = await Promise.all(
          Array.from({ length: 12 }, (_, i) => (i % 2 ? h : other).call("PATCH", `/products/${p.id}`, { body: { priceCents: 100 + i } })),
        );
        expect(replies.map((r) => r.status)).toEqual(Array(12).fill(200));
        const events = await h.prisma.event.findMany({ where: { productId: p.id }, orderBy: { version: "asc" } });
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
      } finally {
        await other.close();
      }
    });
  });

  describe("DELETE /products/:id", () => {
    test("a delete leaves a versioned tombstone; reads are 404 and an old fill cannot resurrect it", async () => {
      const p = await h.create();
      const r = await h.call("DELETE", `/products/${p.id}`);
      expect([r.status, r.headers.get("etag")]).toEqual([204, '"2"']);
      expect(await h.cached(p.id)).toBe("2|t|");
      expect((await h.call("GET", `/products/${p.id}`)).status).toBe(404);
      expect(await h.cache.put(p.id, { version: 1, kind: "p", payload: JSON.stringify(p) }, h.cache.epoch()!)).toEqual({ applied: false, version: 2, outcome: "older" });
      const snapshot = await h.prisma.productSnapshot.findUnique({ where: { id: p.id } });
      expect(snapshot).toMatchObject({ deleted: true, version: 2 });
    });

    test("deleting twice is 404 the second time; the id can be created again at the next version", async () => {
      const p = await h.create();
      await h.call("DELETE", `/products/${p.id}`);
      expect((await h.call("DELETE", `/products/${p.id}`)).status).toBe(404);
      const again = await h.call("POST", "/products", { body: { id: p.id, ...teapot } });
      expect([again.status, again.body.version]).toEqual([201, 3]);
      expect((await h.call("GET", `/products/${p.id}`)).body.version).toBe(3);
    });
  });

  describe("GET /products?ids=", () => {
    test("returns found items in request order and lists missing and deleted ids", async () => {
      const a = await h.create();
      const b = await h.create();
      const gone = await h.create();
      await h.call("DELETE", `/products/${gone.id}`);
      await h.redis.del(h.key(b.id)); // one miss among hits
      const ghost = h.id("ghost");
      const r = await h.call("GET", `/products?ids=${b.id},${a.id},${ghost},${gone.id},${a.id}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ items: [b, a], missing: [ghost, gone.id] });
      expect(await h.cached(b.id)).toStartWith("1|p|");
    });

    test("more than 100 ids is 400", async () => {
      const ids = Array.from({ length: 101 }, (_, i) => `x${i}`).join(",");
      expect((await h.call("GET", `/products?ids=${ids}`)).status).toBe(400);
    });
  });

  describe("GET /products/:id/events", () => {
    test("lists the history oldest first", async () => {
      const p = await h.create();
      await h.call("PATCH", `/products/${p.id}`, { body: { priceCents: 10 } });
      await h.call("DELETE", `/products/${p.id}`);
      const r = await h.call("GET", `/products/${p.id}/events`);
      expect(r.body).toEqual({
        events: [
          { version: 1, type: "ProductCreated", data: { name: "Teapot", description: "", priceCents: 2500, currency: "EUR" }, occurredAt: expect.any(String) },
          { version: 2, type: "ProductUpdated", data: { priceCents: 10 }, occurredAt: expect.any(String) },
          { version: 3, type: "ProductDeleted", data: {}, occurredAt: expect.any(String) },
        ],
      });
    });

    test("an id without events is 404", async () => {
      expect((await h.call("GET", `/products/${h.id("ghost")}/events`)).status).toBe(404);
    });
  });

  describe("health", () => {
    test("GET /healthz is 200 without touching a dependency", async () => {
      expect(await h.call("GET", "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    });

    test("GET /readyz checks PostgreSQL and Redis", async () => {
      expect(await h.call("GET", "/readyz")).toMatchObject({ status: 200, body: { status: "ready", checks: { postgres: "ok", redis: "ok" } } });
    });

    test("an unknown route is 404 ROUTE_NOT_FOUND", async () => {
      const r = await h.call("GET", "/nope");
      expect([r.status, r.body.error.code]).toEqual([404, "ROUTE_NOT_FOUND"]);
    });
  });
}
