// Authentication of the admin routes: a bearer token (API clients), or the console's session cookie
// (a browser that typed the token once). Comparisons run in constant time over SHA-256 digests or
// HMACs, so neither the content nor the length of a secret leaks through timing.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { CatalogError } from "../catalog/errors.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

export const SESSION_COOKIE = "catalog_console";

const unauthorized = () => new CatalogError("UNAUTHORIZED", 401, "a valid 'Authorization: Bearer <token>' header is required");

/** True when `token` is the admin token (constant time). */
function tokenMatches(expected: Buffer, token: string): boolean {
  return timingSafeEqual(digest(token), expected);
}

/**
 * Console sessions: "v1.<expiresAtMs>.<nonce>.<mac>", the MAC an HMAC-SHA256 under a key derived
 * from the admin token. Every api instance with the same token accepts every other's sessions,
 * and a new token ends every session. Nothing is stored server-side; a session ends when it expires
 * (or its cookie is dropped at logout).
 */
export function createSessions(token: string, ttlMs: number, now: () => number = Date.now) {
  const key = createHmac("sha256", token).update("catalog-cache console session v1").digest();
  const mac = (body: string) => createHmac("sha256", key).update(body).digest("base64url");
  return {
    ttlMs,
    issue(): { value: string; expiresAt: number } {
      const expiresAt = now() + ttlMs;
      const body = `v1.${expiresAt}.${randomBytes(12).toString("base64url")}`;
      return { value: `${body}.${mac(body)}`, expiresAt };
    },
    valid(value: string | undefined): boolean {
      if (!value) return false;
      const dot = value.lastIndexOf(".");
      if (dot < 0) return false;
      const body = value.slice(0, dot);
      const given = Buffer.from(value.slice(dot + 1));
      const wanted = Buffer.from(mac(body));
      if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return false;
      const [version, expires] = body.split(".");
      return version === "v1" && Number(expires) > now();
    },
  };
}
export type Sessions = ReturnType<typeof createSessions>;

/** The value of one cookie of a Cookie header (without parsing the rest). */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A state-changing request from a browser must come from the api's own pages: its Origin header
 * names the origin the request was sent to. (SameSite=Strict already keeps the cookie off cross-site
 * requests; this is the second lock, and it also covers the login form.)
 */
export function checkOrigin(request: Request): void {
  if (SAFE_METHODS.has(request.method)) return;
  const origin = request.headers.get("origin");
  const own = new URL(request.url).origin;
  if (origin !== own) {
    throw new CatalogError("FORBIDDEN_ORIGIN", 403, origin ? `requests from ${origin} may not change anything here` : "a state-changing request from a browser session needs an Origin header naming this api");
  }
}

/**
 * The guard of the admin routes. null token: development mode, admin routes open. Otherwise a
 * request passes with the bearer token, or with a valid session cookie (and, if it changes
 * anything, an Origin header naming this api).
 */
export function adminGuard(token: string | null, sessions: Sessions | null) {
  const expected = token === null ? null : digest(token);
  return ({ request }: { request: Request }) => {
    if (expected === null) return;
    const header = request.headers.get("authorization");
    if (header !== null) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (m && tokenMatches(expected, m[1]!)) return;
      throw unauthorized();
    }
    if (sessions?.valid(cookieValue(request.headers.get("cookie"), SESSION_COOKIE))) return checkOrigin(request);
    throw unauthorized();
  };
}

/** Checks a token typed into the console's login form (constant time). */
export function loginCheck(token: string | null) {
  const expected = token === null ? null : digest(token);
  return (typed: string): void => {
    if (expected !== null && !tokenMatches(expected, typed)) throw unauthorized();
  };
}
