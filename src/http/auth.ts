// Bearer-token guard of the admin routes. The comparison runs in constant time over SHA-256
// digests, so neither the content nor the length of the token leaks through timing.
import { createHash, timingSafeEqual } from "node:crypto";
import { CatalogError } from "../catalog/errors.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** null token: development mode, admin routes open. */
export function bearerGuard(token: string | null) {
  const expected = token === null ? null : digest(token);
  return ({ request }: { request: Request }) => {
    if (expected === null) return;
    const header = request.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      throw new CatalogError("UNAUTHORIZED", 401, "a valid 'Authorization: Bearer <token>' header is required");
    }
  };
}
