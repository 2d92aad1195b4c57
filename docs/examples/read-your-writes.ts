// Read-your-writes across services: the writer hands on the version its write answered (the ETag);
// the reader asks for at least that version. docs/CLIENTS.md quotes this file;
// test/integration/client-examples.test.ts runs it.
import type { ApiError, Product } from "./write-retry.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The version a write answered: `ETag: "5"` → 5. */
export const versionOf = (res: Response) => Number(res.headers.get("etag")?.replaceAll('"', ""));

/**
 * GET ?minVersion=N against the catalog api or a service that serves the same contract (the
 * storefront): version N or newer, or null when the product is deleted or unknown (404). 412
 * VERSION_NOT_REACHED means the catalog's PostgreSQL is below N: the write is not committed yet, or
 * N is wrong; retry a few times, then give up with the version the catalog holds.
 */
export async function readAtLeast(base: string, id: string, version: number, attempts = 5, delayMs = 50): Promise<Product | null> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}/products/${encodeURIComponent(id)}?minVersion=${version}`);
    if (res.status === 200) return (await res.json()) as Product;
    if (res.status === 404) return null;
    const { error } = (await res.json()) as ApiError;
    const retry = error.code === "VERSION_NOT_REACHED" || error.code === "UNAVAILABLE";
    if (!retry || attempt >= attempts) throw new Error(`${res.status} ${error.code}: ${error.message}`);
    await sleep(error.code === "UNAVAILABLE" ? Number(res.headers.get("retry-after") ?? 1) * 1000 : delayMs * attempt);
  }
}
