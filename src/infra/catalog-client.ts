// The catalog api as another service's source of products (ProductSource over HTTP): what the
// storefront reads on a miss. It asks for `?minVersion=N` when its cache holds a marker of version
// N, so what it fills is never older than the invalidation it answers; an answer older than that,
// a 5xx or no answer is "unavailable" (503 to the storefront's client), never served. The catalog's
// 412 VERSION_NOT_REACHED (its truth is below N) is passed on as that error, with its version.
import { versionNotReached } from "../catalog/errors.ts";
import type { ProductEvent } from "../catalog/events.ts";
import type { ProductState, ProductView } from "../catalog/product.ts";
import { ServiceUnavailableError, type ProductSource } from "../usecases/ports.ts";

export type CatalogClientOptions = { baseUrl: string; timeoutMs?: number };

const stateOf = (view: ProductView): ProductState => ({ ...view, deleted: false, createdAt: view.updatedAt });
/** A deleted product as the catalog's 404 tells it: only its id and the deletion's version are known. */
const tombstoneOf = (id: string, version: number): ProductState => {
  const never = new Date(0).toISOString();
  return { id, version, deleted: true, name: "", description: "", priceCents: 0, currency: "XXX", createdAt: never, updatedAt: never };
};

export function createCatalogSource({ baseUrl, timeoutMs = 2000 }: CatalogClientOptions): ProductSource {
  const base = baseUrl.replace(/\/+$/, "");
  async function get(path: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
    } catch (err) {
      throw new ServiceUnavailableError("catalog", err);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new ServiceUnavailableError("catalog", new Error(`the catalog api answered ${res.status}`));
    }
    return res;
  }
  const id = (s: string) => encodeURIComponent(s);
  return {
    async loadState(productId, atLeast) {
      const res = await get(`/products/${id(productId)}${atLeast ? `?minVersion=${atLeast}` : ""}`);
      if (res.status === 404) {
        await res.body?.cancel();
        // A deleted product's 404 names the deletion's version (ETag): a tombstone of that version,
        // which the caller caches (it answers an invalidation marker of the same version).
        const deletedAt = /^"([1-9][0-9]{0,14})"$/.exec(res.headers.get("etag") ?? "")?.[1];
        return deletedAt === undefined ? null : tombstoneOf(productId, Number(deletedAt));
      }
      if (res.status === 412 && atLeast !== undefined) {
        // VERSION_NOT_REACHED: the catalog's truth is below `atLeast`. Said as such, with the version
        // it holds: the caller knows whether that answers its own client's minVersion or not.
        const body = (await res.json().catch(() => null)) as { error?: { code?: string; details?: { currentVersion?: unknown } } } | null;
        const current = body?.error?.details?.currentVersion;
        if (body?.error?.code === "VERSION_NOT_REACHED" && typeof current === "number") throw versionNotReached(productId, atLeast, current);
      }
      if (res.status !== 200) throw new ServiceUnavailableError("catalog", new Error(`the catalog api answered ${res.status}`));
      const view = (await res.json()) as ProductView;
      if (atLeast !== undefined && view.version < atLeast) {
        // The catalog's own truth is behind what an invalidation announced: never serve it.
        throw new ServiceUnavailableError("catalog", new Error(`the catalog answered version ${view.version} of ${productId}; ${atLeast} was announced`));
      }
      return stateOf(view);
    },
    async loadStates(ids) {
      if (ids.length === 0) return [];
      const res = await get(`/products?ids=${ids.map(id).join(",")}`);
      if (res.status !== 200) throw new ServiceUnavailableError("catalog", new Error(`the catalog api answered ${res.status}`));
      const { items } = (await res.json()) as { items: ProductView[] };
      return items.map(stateOf);
    },
    async history(productId) {
      const res = await get(`/products/${id(productId)}/events`);
      if (res.status === 404) {
        await res.body?.cancel();
        return [];
      }
      if (res.status !== 200) throw new ServiceUnavailableError("catalog", new Error(`the catalog api answered ${res.status}`));
      const { events } = (await res.json()) as { events: Omit<ProductEvent, "productId">[] };
      return events.map((e) => ({ ...e, productId })) as ProductEvent[];
    },
    async ping() {
      const res = await get("/healthz");
      await res.body?.cancel();
    },
  };
}
