// The storefront service behind the real pipeline: the catalog api (write-through on, as deployed),
// the relay, the storefront's evict consumer and the storefront itself, as processes. A price
// change through the catalog reaches the storefront's readers; what a reader was served never goes
// back; and the catalog going away gives 503 past an invalidation, never the old price.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPipeline, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

let p: Pipeline;
let api: Awaited<ReturnType<Pipeline["startApi"]>>;
let store: Awaited<ReturnType<Pipeline["startStorefront"]>>;

beforeAll(async () => {
  p = await createPipeline("store");
  [api] = await Promise.all([p.startApi({ CACHE_WRITE_THROUGH: "true" }), p.startRelay(), p.startConsumer("storefront", "evict")]);
  store = await p.startStorefront(api.url);
});
afterAll(() => p.close());

const json = (body: unknown) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const patch = (body: unknown) => ({ ...json(body), method: "PATCH" });
async function served(id: string) {
  const res = await fetch(`${store.url}/products/${id}`);
  return { status: res.status, body: (await res.json()) as { version: number; priceCents: number } };
}

test("price changes through the catalog api reach the storefront, and a reader never sees one go back", async () => {
  const id = `${p.prefix}-kettle`;
  expect((await fetch(`${api.url}/products`, json({ id, name: "Kettle", priceCents: 100, currency: "EUR" }))).status).toBe(201);
  expect(await served(id)).toMatchObject({ status: 200, body: { version: 1, priceCents: 100 } });
  let writing = true;
  const writer = (async () => {
    for (let price = 101; price <= 140; price++) expect((await fetch(`${api.url}/products/${id}`, patch({ priceCents: price }))).status).toBe(200);
    writing = false;
  })();
  const seen: number[] = [];
  while (writing) seen.push((await served(id)).body.version);
  await writer;
  expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]!)).toBe(true);
  // The last change arrives through the relay, Kafka and the evict consumer's marker.
  await waitFor(async () => (await served(id)).body.priceCents === 140, 15_000, "the storefront to serve the last price");
  expect((await served(id)).body.version).toBe(41);
});

test("with the catalog api stopped, the storefront answers 503 past an invalidation, never the old price", async () => {
  const id = `${p.prefix}-pan`;
  await fetch(`${api.url}/products`, json({ id, name: "Pan", priceCents: 500, currency: "EUR" }));
  expect((await served(id)).body.priceCents).toBe(500);
  await fetch(`${api.url}/products/${id}`, patch({ priceCents: 600 }));
  await waitFor(async () => (await p.cachedEntry("storefront", id)) === "2|m|", 15_000, "the invalidation of version 2");
  api.kill("SIGTERM");
  await api.exited;
  const res = await fetch(`${store.url}/products/${id}`);
  expect([res.status, res.headers.get("retry-after"), ((await res.json()) as { error: { code: string } }).error.code]).toEqual([503, "1", "UNAVAILABLE"]);
});
