// What createQueries does after a miss, spelled out over the ProductCache port of this repo
// (createRedisCache): learn the fence epoch, take the fill lease, read the catalog api at least at
// the version the cache announced, and put through the compare-and-set script (lua/cas-set-3.lua).
// docs/CLIENTS.md quotes this file; test/integration/client-examples.test.ts runs it.
import type { ProductCache } from "../../src/usecases/ports.ts";

export type Filled =
  | { status: 200; version: number; json: string; outcome: string }
  | { status: 404; outcome: string }
  | { status: "busy" }; // another instance holds the lease: poll the cache a little, then read yourself

export async function fillFromCatalog(cache: ProductCache, catalogUrl: string, id: string, atLeast?: number): Promise<Filled> {
  const token = crypto.randomUUID();
  if (!(await cache.acquireLease(id, token, 2000))) return { status: "busy" };
  try {
    const epoch = cache.epoch(); // BEFORE the read: data read before a loss of Redis data is then refused
    const res = await fetch(`${catalogUrl}/products/${encodeURIComponent(id)}${atLeast ? `?minVersion=${atLeast}` : ""}`);
    if (res.status === 404) {
      await res.body?.cancel();
      const put = epoch === null ? null : await cache.put(id, { version: 0, kind: "n", payload: "" }, epoch);
      return { status: 404, outcome: put?.outcome ?? "not-stored" };
    }
    // 412 VERSION_NOT_REACHED (the catalog is below atLeast), 503, ...: serve nothing older, fail.
    if (res.status !== 200) throw new Error(`the catalog api answered ${res.status}`);
    const json = await res.text(); // the product's JSON as the catalog caches it: store it as is
    const { version } = JSON.parse(json) as { version: number };
    const put = epoch === null ? null : await cache.put(id, { version, kind: "p", payload: json }, epoch);
    // "stored"; "older" (the key holds this version or newer); "fenced" (Redis lost data meanwhile).
    // Whatever the outcome, what was read may be served: it was current when read.
    return { status: 200, version, json, outcome: put?.outcome ?? "not-stored" };
  } finally {
    await cache.releaseLease(id, token);
  }
}
