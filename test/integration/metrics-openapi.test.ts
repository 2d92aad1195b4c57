// GET /metrics counts what the traffic did; GET /openapi documents every route and error code.
import { afterAll, describe, expect, test } from "bun:test";
import { createHarness } from "../support/harness.ts";
import { waitFor } from "../support/services.ts";

const h = createHarness("metrics");
afterAll(() => h.close());

/** Samples as `name{label="v",...}` with the labels sorted and the process label left out. */
async function scrape(): Promise<Map<string, number>> {
  const r = await h.call("GET", "/metrics");
  expect(r.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of r.text.split("\n")) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? "").split(/,(?=[a-z_]+=)/).filter((l) => l && !l.startsWith("process=")).sort();
    out.set(labels.length ? `${m[1]}{${labels.join(",")}}` : m[1]!, Number(m[3]));
  }
  return out;
}
const delta = (before: Map<string, number>, after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
/**
 * The metrics once these counters have grown by `n` in all since `before`: a request is counted
 * just after its response went out, so a caller can have the last response before its count.
 */
const scrapeAfter = (before: Map<string, number>, keys: readonly string[], n: number) =>
  waitFor(
    async () => {
      const m = await scrape();
      return keys.reduce((s, k) => s + delta(before, m, k), 0) >= n ? m : null;
    },
    5000,
    `${n} requests counted under ${keys.join(", ")}`,
  );

describe("GET /metrics", () => {
  test("counts requests by route and status, cache hits and misses, fills and database reads", async () => {
    const p = await h.create();
    await h.redis.del(h.key(p.id));
    const before = await scrape();
    await h.call("GET", `/products/${p.id}`); // miss → database read → fill
    for (let i = 0; i < 3; i++) await h.call("GET", `/products/${p.id}`); // hits
    await h.call("GET", `/products/${h.id("ghost")}`); // miss, 404, and "no such product" filled
    await h.call("POST", "/products", { body: { name: "" } }); // 400
    const [ok, notFound, invalid] = [
      'catalog_http_requests_total{method="GET",route="/products/:id",status="200"}',
      'catalog_http_requests_total{method="GET",route="/products/:id",status="404"}',
      'catalog_http_requests_total{method="POST",route="/products",status="400"}',
    ];
    const after = await scrapeAfter(before, [ok, notFound, invalid], 6);
    expect({
      ok: delta(before, after, ok),
      notFound: delta(before, after, notFound),
      invalid: delta(before, after, invalid),
      hits: delta(before, after, 'catalog_cache_events_total{event="hit"}'),
      misses: delta(before, after, 'catalog_cache_events_total{event="miss"}'),
      fills: delta(before, after, 'catalog_cache_events_total{event="fill_applied"}'),
      dbReads: delta(before, after, "catalog_db_reads_total"),
      timed: delta(before, after, 'catalog_http_request_duration_seconds_count{method="GET",route="/products/:id"}'),
    }).toEqual({ ok: 4, notFound: 1, invalid: 1, hits: 3, misses: 2, fills: 2, dbReads: 2, timed: 5 });
  });
});

describe("GET /openapi", () => {
  test("serves a UI, and a document with every route and error code of the contract", async () => {
    const ui = await h.call("GET", "/openapi");
    expect([ui.status, ui.headers.get("content-type")]).toEqual([200, expect.stringContaining("text/html")]);
    const doc = await h.call("GET", "/openapi/json");
    expect(doc.status).toBe(200);
    const routes = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        "POST /products",
        "GET /products",
        "GET /products/{id}",
        "PUT /products/{id}",
        "PATCH /products/{id}",
        "DELETE /products/{id}",
        "GET /products/{id}/events",
        "POST /admin/replay",
        "GET /admin/replay/{jobId}",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
      ]),
    );
    const text = doc.text;
    for (const code of ["VALIDATION_FAILED", "MALFORMED_JSON", "UNAUTHORIZED", "NOT_FOUND", "ALREADY_EXISTS", "VERSION_CONFLICT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "REPLAY_RUNNING", "ROUTE_NOT_FOUND", "CONFLICT_RETRY_EXHAUSTED", "UNAVAILABLE"]) {
      expect({ code, documented: text.includes(`"${code}"`) || text.includes(` ${code}`) }).toEqual({ code, documented: true });
    }
    // request schemas come from the route schemas, as components
    expect(doc.body.paths["/products"].post.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ProductCreate" });
    expect(JSON.stringify(doc.body.components.schemas.ProductCreate)).toContain("priceCents");
  });

  test("the page, with or without a trailing slash, fetches a document that is served", async () => {
    for (const page of ["/openapi", "/openapi/"]) {
      const ui = await h.call("GET", page);
      expect(ui.status).toBe(200);
      const config = /data-configuration='([^']*)'/.exec(ui.text)?.[1];
      expect(config).toBeDefined();
      // Resolved as the browser does, against the page's own URL.
      const url = new URL(JSON.parse(config!).url, `http://api${page}`);
      const doc = await h.call("GET", url.pathname);
      expect({ page, fetches: url.pathname, status: doc.status, openapi: typeof doc.body?.openapi }).toEqual({ page, fetches: "/openapi/json", status: 200, openapi: "string" });
    }
  });
});
