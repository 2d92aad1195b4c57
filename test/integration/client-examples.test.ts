// docs/CLIENTS.md and its runnable examples (docs/examples/): every snippet the page quotes is the
// examples' code, and each example runs here against the real catalog api (served on a socket over
// the real PostgreSQL and Redis), a storefront over it, and the tests' Redis Cluster.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import pino from "pino";
import { fillFromCatalog } from "../../docs/examples/fill-by-hand.ts";
import { keysOnCluster, keysOnServer, lookup } from "../../docs/examples/read-namespace.ts";
import { readAtLeast, versionOf } from "../../docs/examples/read-your-writes.ts";
import { createProductReader, serveProduct } from "../../docs/examples/service-reader.ts";
import { updateProduct } from "../../docs/examples/write-retry.ts";
import { encodeEntry, keyLayout } from "../../src/infra/cache-format.ts";
import { createCatalogSource } from "../../src/infra/catalog-client.ts";
import { createRedisCache, createRedisClient } from "../../src/infra/redis-cache.ts";
import { createStorefrontApp } from "../../storefront/app.ts";
import { createGate } from "../support/gate.ts";
import { createHarness } from "../support/harness.ts";
import { deleteClusterKeys, ensureRedisCluster, TEST_REDIS_CLUSTER_NODES } from "../support/redis-cluster.ts";
import { TEST_REDIS_URL } from "../support/services.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const h = createHarness("clients");

// The catalog api on a socket. `asked` records each request's path and query; `intercept` may
// answer a request itself (a scripted failure); `answered` hears every response; `hold` stops the
// next response of a GET of `holdPath` at the gate.
const asked: string[] = [];
let intercept: ((request: Request) => Response | null | Promise<Response | null>) | null = null;
let answered: ((request: Request, response: Response) => void) | null = null;
const hold = createGate();
let holdPath: string | null = null;
const catalog = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const url = new URL(request.url);
    asked.push(`${request.method} ${url.pathname}${url.search}`);
    const response = (await intercept?.(request)) ?? (await h.app.handle(request));
    if (holdPath !== null && request.method === "GET" && url.pathname === holdPath) await hold.point();
    answered?.(request, response);
    return response;
  },
});
const catalogUrl = `http://127.0.0.1:${catalog.port}`;

// The storefront over that catalog api, on a socket too: its namespace is kept by no consumer here.
const logger = pino({ level: "silent" });
const storefrontCache = createRedisCache(h.redis, { keyPrefix: h.prefix, namespace: "storefront", ttlSeconds: 600 });
const storefrontApp = createStorefrontApp({ catalog: createCatalogSource({ baseUrl: catalogUrl }), cache: storefrontCache, logger });
const storefront = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => storefrontApp.handle(request) });
const storefrontUrl = `http://127.0.0.1:${storefront.port}`;

const readers: { close(): Promise<unknown> }[] = [];
beforeAll(async () => {
  if (!(await storefrontCache.whenReady(5000))) throw new Error("the storefront's fence was not verified");
});
afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
  await storefront.stop(true);
  await catalog.stop(true);
  await h.close();
});

const cacheOf = (namespace: string) => createRedisCache(h.redis, { keyPrefix: h.prefix, namespace, ttlSeconds: 600 });
async function ready(namespace: string) {
  const cache = cacheOf(namespace);
  if (!(await cache.whenReady(5000))) throw new Error(`the fence of ${namespace} was not verified`);
  return cache;
}
const patch = (id: string, body: Record<string, unknown>) => h.call("PATCH", `/products/${id}`, { body });

describe("docs/CLIENTS.md", () => {
  test("every snippet it quotes from docs/examples/ is that file's code, and every example is quoted", () => {
    const page = readFileSync(`${ROOT}docs/CLIENTS.md`, "utf8");
    const quoted = [...page.matchAll(/<!-- from (docs\/examples\/[\w.-]+\.ts) -->\n```ts\n([\s\S]*?)\n```/g)];
    expect(quoted.length).toBeGreaterThanOrEqual(5);
    for (const [, file, snippet] of quoted) {
      const source = readFileSync(`${ROOT}${file}`, "utf8");
      // A snippet may leave lines out where it says "// ..." on a line of its own.
      for (const part of snippet!.split(/\n *\/\/ \.\.\.\n/)) {
        if (!source.includes(part)) throw new Error(`docs/CLIENTS.md quotes ${file}, which does not hold:\n${part}`);
      }
    }
    const files = new Set(quoted.map(([, file]) => file));
    for (const name of ["read-namespace.ts", "service-reader.ts", "fill-by-hand.ts", "write-retry.ts", "read-your-writes.ts"]) {
      expect(files.has(`docs/examples/${name}`)).toBe(true);
    }
  });
});

describe("reading a namespace with ioredis alone (read-namespace.ts)", () => {
  test("its keys are cache-format.ts's, on one server and on a Redis Cluster", () => {
    const ids = ["kettle", "a", "Z-9_x", "x".repeat(64), ...Array.from({ length: 500 }, (_, i) => `p-${i.toString(36)}`), "é✓"];
    for (const cluster of [false, true]) {
      const layout = keyLayout("cc", "search", cluster);
      for (const id of ids) {
        const keys = cluster ? keysOnCluster("cc", "search", id) : keysOnServer("cc", "search", id);
        expect(keys).toEqual({ entry: layout.entry(id), fence: layout.fences[layout.bucketOf(id)]! });
      }
    }
  });

  test("each kind of entry reads as the storefront reads it: p served, t and n 404, m and other epochs a miss with the floor", async () => {
    const keys = (id: string, namespace: string) => keysOnServer(h.prefix, namespace, id);
    const p = await h.create({ priceCents: 100 });
    const sf = await (await fetch(`${storefrontUrl}/products/${p.id}`)).text(); // a miss: filled from the catalog api
    expect(await lookup(h.redis, keys(p.id, "storefront"))).toEqual({ kind: "product", version: 1, json: sf });
    await patch(p.id, { priceCents: 120 });
    await storefrontCache.mark([{ id: p.id, version: 2 }]); // what the evict consumer does
    expect(await lookup(h.redis, keys(p.id, "storefront"))).toEqual({ kind: "miss", atLeast: 2 });

    expect((await h.call("DELETE", `/products/${p.id}`)).status).toBe(204); // the api's write-through: a tombstone
    expect(await lookup(h.redis, keys(p.id, "catalog"))).toEqual({ kind: "deleted", version: 3 });
    const unknown = h.id("never");
    expect((await h.call("GET", `/products/${unknown}`)).status).toBe(404); // "no such product", version 0
    expect(await lookup(h.redis, keys(unknown, "catalog"))).toEqual({ kind: "unknown" });
    expect(await lookup(h.redis, keys(h.id("none"), "catalog"))).toEqual({ kind: "miss" });

    // An entry of another epoch (written before a loss of Redis data) is a miss, its version the floor.
    const q = await h.create();
    const cache = await ready("catalog");
    await h.redis.set(keys(q.id, "catalog").entry, encodeEntry({ version: 1, kind: "p", epoch: "1", payload: "{}" }));
    expect(cache.epoch()).not.toBe("1");
    expect(await lookup(h.redis, keys(q.id, "catalog"))).toEqual({ kind: "miss", atLeast: 1 });

    // A fence this server did not arm (a restart, a promoted replica) is trusted by no reader.
    const fenced = keysOnServer(h.prefix, "untrusted", "x");
    await h.redis.set(fenced.fence, "abc|0123456789abcdef0123456789abcdef01234567");
    await h.redis.set(fenced.entry, "4|p|abc|{}");
    expect(await lookup(h.redis, fenced)).toEqual({ kind: "miss", atLeast: 4 });
    const runId = /run_id:([0-9a-f]+)/.exec(await h.redis.info("server"))![1]!;
    await h.redis.set(fenced.fence, `abc|${runId}`);
    expect(await lookup(h.redis, fenced)).toEqual({ kind: "product", version: 4, json: "{}" });
  });

  test("on a Redis Cluster: the bucketed keys, read in one round trip on the slot's node", async () => {
    ensureRedisCluster();
    const cluster = createRedisClient({ redisUrl: "", redisClusterNodes: TEST_REDIS_CLUSTER_NODES }, 1000);
    try {
      const cache = createRedisCache(cluster, { keyPrefix: h.prefix, namespace: "search", ttlSeconds: 600 });
      expect(await cache.whenReady(10_000)).toBe(true);
      for (const id of ["kettle", "teapot", "cup"]) {
        expect((await cache.put(id, { version: 2, kind: "p", payload: `{"id":"${id}"}` }, cache.epoch()!)).outcome).toBe("stored");
        expect(await lookup(cluster, keysOnCluster(h.prefix, "search", id))).toEqual({ kind: "product", version: 2, json: `{"id":"${id}"}` });
        await cache.mark([{ id, version: 3 }]);
        expect(await lookup(cluster, keysOnCluster(h.prefix, "search", id))).toEqual({ kind: "miss", atLeast: 3 });
      }
    } finally {
      await deleteClusterKeys(cluster as never, h.prefix);
      cluster.disconnect();
    }
  });
});

describe("filling after a miss", () => {
  test("the recommended reader (service-reader.ts): a miss fills, a hit is served, a marker of N asks the catalog for N", async () => {
    const reader = createProductReader({ redisUrl: TEST_REDIS_URL, keyPrefix: h.prefix, namespace: "search", catalogUrl });
    readers.push(reader);
    await reader.cache.whenReady(5000);
    const p = await h.create({ priceCents: 300 });
    expect(await reader.queries.getProduct(p.id)).toMatchObject({ found: true, version: 1, cache: "miss", stored: true });
    expect(await reader.queries.getProduct(p.id)).toMatchObject({ found: true, version: 1, cache: "hit" });
    await patch(p.id, { priceCents: 310 });
    await reader.cache.mark([{ id: p.id, version: 2 }]); // the evict consumer of "search"
    asked.length = 0;
    const read = await reader.queries.getProduct(p.id);
    expect(read).toMatchObject({ found: true, version: 2, cache: "miss" });
    expect(JSON.parse((read as { json: string }).json)).toMatchObject({ priceCents: 310 });
    expect(asked).toEqual([`GET /products/${p.id}?minVersion=2`]);
    expect(await lookup(h.redis, keysOnServer(h.prefix, "search", p.id))).toMatchObject({ kind: "product", version: 2 });

    // serveProduct: the catalog's answers.
    const ok = await serveProduct(reader.queries, p.id);
    expect([ok.status, ok.headers.get("etag"), ok.headers.get("x-cache"), JSON.parse(await ok.text()).priceCents]).toEqual([200, '"2"', "hit", 310]);
    const unknown = h.id("never");
    const missing = await serveProduct(reader.queries, unknown);
    expect([missing.status, await missing.json()]).toEqual([404, { error: { code: "NOT_FOUND", message: `product ${unknown} not found` } }]);
    const ahead = await serveProduct(reader.queries, p.id, 9);
    expect([ahead.status, await ahead.json()]).toEqual([
      412,
      { error: { code: "VERSION_NOT_REACHED", message: `product ${p.id} is at version 2, below minVersion 9`, details: { currentVersion: 2 } } },
    ]);
    // The catalog api down: a hit is still served; past an invalidation, 503 and never the old data.
    const cut = createProductReader({ redisUrl: TEST_REDIS_URL, keyPrefix: h.prefix, namespace: "search", catalogUrl: "http://127.0.0.1:1" });
    readers.push(cut);
    await cut.cache.whenReady(5000);
    expect((await serveProduct(cut.queries, p.id)).status).toBe(200);
    await cut.cache.mark([{ id: p.id, version: 3 }]);
    const down = await serveProduct(cut.queries, p.id);
    expect([down.status, down.headers.get("retry-after"), ((await down.json()) as { error: { code: string } }).error.code]).toEqual([503, "1", "UNAVAILABLE"]);
  });

  test("by hand (fill-by-hand.ts): stored, then at least the marker's version, behind the lease; a read from before an invalidation never lands over it", async () => {
    const cache = await ready("hand");
    const p = await h.create({ priceCents: 1 });
    const first = await fillFromCatalog(cache, catalogUrl, p.id);
    expect(first).toMatchObject({ status: 200, version: 1, outcome: "stored" });
    expect(await lookup(h.redis, keysOnServer(h.prefix, "hand", p.id))).toEqual({ kind: "product", version: 1, json: (first as { json: string }).json });

    // A fill that read version 2, held before its put while version 3 is written and invalidated.
    await patch(p.id, { priceCents: 2 });
    holdPath = `/products/${p.id}`;
    const held = hold.arm();
    const late = fillFromCatalog(cache, catalogUrl, p.id);
    await held.reached;
    expect(await fillFromCatalog(cache, catalogUrl, p.id)).toEqual({ status: "busy" }); // the lease is taken
    await patch(p.id, { priceCents: 3 });
    await cache.mark([{ id: p.id, version: 3 }]);
    held.release();
    expect(await late).toMatchObject({ status: 200, version: 2, outcome: "older" }); // refused: the marker of 3 stays
    holdPath = null;
    expect(await lookup(h.redis, keysOnServer(h.prefix, "hand", p.id))).toEqual({ kind: "miss", atLeast: 3 });
    asked.length = 0;
    expect(await fillFromCatalog(cache, catalogUrl, p.id, 3)).toMatchObject({ status: 200, version: 3, outcome: "stored" });
    expect(asked).toEqual([`GET /products/${p.id}?minVersion=3`]);

    // Unknown id: "no such product" (version 0), a 404 for its readers.
    const unknown = h.id("nope");
    expect(await fillFromCatalog(cache, catalogUrl, unknown)).toEqual({ status: 404, outcome: "stored" });
    expect(await lookup(h.redis, keysOnServer(h.prefix, "hand", unknown))).toEqual({ kind: "unknown" });
    // The catalog below the version asked for (412 VERSION_NOT_REACHED): nothing older is served.
    await expect(fillFromCatalog(cache, catalogUrl, p.id, 9)).rejects.toThrow("the catalog api answered 412");
  });
});

describe("writes with If-Match (write-retry.ts)", () => {
  const patches = () => asked.filter((a) => a.startsWith("PATCH"));

  test("another writer first: 412 VERSION_CONFLICT, read again at least its version, decide again; both changes stay", async () => {
    const p = await h.create({ priceCents: 100, category: "kitchen" });
    let competed = false;
    intercept = async (request) => {
      if (request.method === "PATCH" && !competed) {
        competed = true; // between this client's read and its write, another client writes
        expect((await patch(p.id, { category: "tea" })).status).toBe(200);
      }
      return null;
    };
    const seen: number[] = [];
    asked.length = 0;
    try {
      const written = await updateProduct(catalogUrl, p.id, (current) => {
        seen.push(current.version);
        return { priceCents: (current.priceCents as number) + 10 };
      });
      expect(written).toMatchObject({ version: 3, priceCents: 110, category: "tea" });
    } finally {
      intercept = null;
    }
    expect(seen).toEqual([1, 2]);
    expect(asked).toEqual([`GET /products/${p.id}`, `PATCH /products/${p.id}`, `GET /products/${p.id}?minVersion=2`, `PATCH /products/${p.id}`]);
  });

  test("409 CONFLICT_RETRY_EXHAUSTED and 503 with Retry-After are retried; a writer that always loses gives up after the bound; 404 is not retried", async () => {
    const p = await h.create({ priceCents: 5 });
    const script = [
      (r: Request) => (r.method === "PATCH" ? Response.json({ error: { code: "CONFLICT_RETRY_EXHAUSTED", message: "busy" } }, { status: 409 }) : null),
      (r: Request) => (r.method === "GET" ? Response.json({ error: { code: "UNAVAILABLE", message: "postgres is unavailable" } }, { status: 503, headers: { "retry-after": "0" } }) : null),
    ];
    intercept = (request) => {
      const answer = script[0]?.(request) ?? null;
      if (answer) script.shift();
      return answer;
    };
    asked.length = 0;
    try {
      expect(await updateProduct(catalogUrl, p.id, () => ({ priceCents: 6 }))).toMatchObject({ version: 2, priceCents: 6 });
    } finally {
      intercept = null;
    }
    expect(asked).toEqual([`GET /products/${p.id}`, `PATCH /products/${p.id}`, `GET /products/${p.id}`, `GET /products/${p.id}`, `PATCH /products/${p.id}`]);

    intercept = async (request) => {
      if (request.method === "PATCH") await patch(p.id, { name: `Renamed ${Math.random()}` }); // always first
      return null;
    };
    asked.length = 0;
    try {
      await expect(updateProduct(catalogUrl, p.id, () => ({ priceCents: 7 }), 3)).rejects.toThrow(`${p.id}: gave up after 3 attempts`);
    } finally {
      intercept = null;
    }
    expect(patches()).toHaveLength(3);

    expect((await h.call("DELETE", `/products/${p.id}`)).status).toBe(204);
    asked.length = 0;
    await expect(updateProduct(catalogUrl, p.id, () => ({ priceCents: 8 }))).rejects.toThrow(`404 NOT_FOUND: product ${p.id} not found`);
    expect(asked).toEqual([`GET /products/${p.id}`]);
  });
});

describe("read-your-writes across services (read-your-writes.ts)", () => {
  test("the storefront, whose namespace still holds version 1, answers version 2 to ?minVersion=2", async () => {
    const p = await h.create({ priceCents: 40 });
    expect(await readAtLeast(storefrontUrl, p.id, 1)).toMatchObject({ version: 1 }); // now cached there
    const write = await fetch(`${catalogUrl}/products/${p.id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: '{"priceCents":45}' });
    const version = versionOf(write);
    expect(version).toBe(2);
    expect(await lookup(h.redis, keysOnServer(h.prefix, "storefront", p.id))).toMatchObject({ kind: "product", version: 1 }); // no invalidation yet
    expect(await readAtLeast(storefrontUrl, p.id, version)).toMatchObject({ version: 2, priceCents: 45 });
    expect(await readAtLeast(catalogUrl, p.id, version)).toMatchObject({ version: 2, priceCents: 45 });
  });

  test("412 VERSION_NOT_REACHED is retried while the write is not committed, then answered; a wrong version gives up with the catalog's version", async () => {
    const p = await h.create();
    let first412: () => void;
    const got412 = new Promise<void>((resolve) => (first412 = resolve));
    answered = (request, response) => {
      if (request.method === "GET" && response.status === 412) first412();
    };
    try {
      const reading = readAtLeast(catalogUrl, p.id, 2, 50, 5);
      await got412; // the reader was told "not yet"; now the write commits
      expect((await patch(p.id, { priceCents: 99 })).status).toBe(200);
      expect(await reading).toMatchObject({ version: 2, priceCents: 99 });
    } finally {
      answered = null;
    }
    await expect(readAtLeast(catalogUrl, p.id, 7, 2, 1)).rejects.toThrow(`412 VERSION_NOT_REACHED: product ${p.id} is at version 2, below minVersion 7`);
    await expect(readAtLeast(storefrontUrl, p.id, 7, 2, 1)).rejects.toThrow(`412 VERSION_NOT_REACHED: product ${p.id} is at version 2, below minVersion 7`);
    expect(await readAtLeast(catalogUrl, h.id("never"), 1)).toBeNull();
  });
});
