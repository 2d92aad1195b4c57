// A write with If-Match and a bounded retry loop, with fetch alone (any service, any runtime).
// docs/CLIENTS.md quotes this file; test/integration/client-examples.test.ts runs it.

export type Product = { id: string; version: number; [field: string]: unknown };
export type ApiError = { error: { code: string; message: string; details?: { currentVersion?: number } } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Retry-After in seconds (the api sends 1), as milliseconds. */
const retryAfter = (res: Response) => Number(res.headers.get("retry-after") ?? 1) * 1000;

/**
 * Reads the product, applies `change` to what it read, and PATCHes it with If-Match: "<version>".
 * Another writer first: 412 VERSION_CONFLICT, so read again (at least that writer's version) and
 * decide again. Returns the product as written; its `version` is the new ETag.
 */
export async function updateProduct(base: string, id: string, change: (current: Product) => Record<string, unknown>, attempts = 5): Promise<Product> {
  const url = `${base}/products/${encodeURIComponent(id)}`;
  let atLeast = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let res = await fetch(atLeast ? `${url}?minVersion=${atLeast}` : url);
    if (res.status === 200) {
      const current = (await res.json()) as Product;
      res = await fetch(url, {
        method: "PATCH",
        headers: { "content-type": "application/json", "if-match": `"${current.version}"` },
        body: JSON.stringify(change(current)),
      });
      if (res.status === 200) return (await res.json()) as Product;
    }
    const { error } = (await res.json()) as ApiError;
    if (error.code === "VERSION_CONFLICT") atLeast = error.details!.currentVersion!; // read that version, decide again
    else if (error.code === "CONFLICT_RETRY_EXHAUSTED" || error.code === "VERSION_NOT_REACHED") await sleep(20 * attempt);
    else if (error.code === "UNAVAILABLE") await sleep(retryAfter(res)); // 503: PostgreSQL away
    else throw new Error(`${res.status} ${error.code}: ${error.message}`); // 400, 404 (deleted), ...: do not retry
  }
  throw new Error(`${id}: gave up after ${attempts} attempts`);
}
