// Product routes: thin. Parse and validate, run the use case, shape the response.
import { Elysia } from "elysia";
import type { Command } from "../catalog/decide.ts";
import { CatalogError, notFound, validationFailed, versionNotReached } from "../catalog/errors.ts";
import type { FieldChanges } from "../catalog/events.ts";
import { LIMITS, isKnownCurrency, isValidId, toView, type ProductFields, type ProductState } from "../catalog/product.ts";
import type { CommandResult } from "../usecases/commands.ts";
import type { ProductRead, Queries } from "../usecases/queries.ts";
import type { Logger } from "pino";
import { parseJsonBody } from "./body.ts";
import { errorResponse, rejectionToResponse } from "./errors.ts";
import { docs } from "./openapi-docs.ts";
import { BatchQuery, CreateBody, GetQuery, IdParams, IfMatchHeaders, PatchBody, ReplaceBody } from "./schemas.ts";

// Bodies go through the project's strict parser ("jsonStrict" answers every request, so the built-in
// "json" after it never runs); naming "json" too tells the OpenAPI generator the media type.
const JSON_BODY: ["jsonStrict", "json"] = ["jsonStrict", "json"];
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const etag = (version: number) => `"${version}"`;

/**
 * The headers of a 200 read, shared by every response of the same version and cache outcome: Bun
 * copies a Headers object into a response far faster than it builds one from an object literal
 * (a quarter more hits per second from the near cache, bench/read-hits.ts). The Response copies
 * them, so nothing a later hook sets reaches the shared object. Kept for the first versions only.
 */
const readHeaders: Map<string, Headers>[] = [new Map(), new Map(), new Map(), new Map()];
const SHARED_VERSIONS = 1024;
const STATUSES = ["catalog-cache; hit", "catalog-cache; hit; detail=l1", "catalog-cache; fwd=miss; stored", "catalog-cache; fwd=miss; detail=not-stored"];
function headersOfRead(version: number, xCache: "hit" | "miss", status: string): Headers | Record<string, string> {
  const slot = STATUSES.indexOf(status);
  if (slot === -1 || version > SHARED_VERSIONS) return { "content-type": JSON_HEADERS["content-type"], etag: etag(version), "x-cache": xCache, "cache-status": status };
  const key = String(version);
  let h = readHeaders[slot]!.get(key);
  if (!h) readHeaders[slot]!.set(key, (h = new Headers({ "content-type": JSON_HEADERS["content-type"], etag: etag(version), "x-cache": xCache, "cache-status": status })));
  return h;
}

/** A source that refused below minVersion itself (the catalog api, to another service): a miss it answered, nothing stored. */
const SOURCE_REFUSED = { "x-cache": "miss", "cache-status": "catalog-cache; fwd=miss; detail=not-stored" };

function productResponse(status: number, json: string, version: number, headers: Record<string, string> = {}) {
  return new Response(json, { status, headers: { ...JSON_HEADERS, etag: etag(version), ...headers } });
}

/**
 * RFC 9211 Cache-Status: a hit (`detail=l1` when the process's near cache answered); or a miss forwarded to PostgreSQL, `stored` when the cache holds
 * that version (or a newer one) afterwards, `detail=not-stored` when PostgreSQL answered alone (the
 * cache could not be used, or the fill was fenced by a loss of Redis data).
 */
export function cacheStatus(read: { cache: "hit" | "miss"; stored: boolean; l1?: true }): string {
  if (read.cache === "hit") return read.l1 ? "catalog-cache; hit; detail=l1" : "catalog-cache; hit";
  return read.stored ? "catalog-cache; fwd=miss; stored" : "catalog-cache; fwd=miss; detail=not-stored";
}

/** `If-Match: "<version>"` → the expected version; `*` or absent → none. */
export function parseIfMatch(header: string | null | undefined): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value === "*") return undefined;
  const m = /^"([1-9][0-9]{0,14})"$/.exec(value);
  if (!m) {
    const message = `If-Match must be a quoted version such as "3" (the ETag a read answered), or *; not ${JSON.stringify(value.slice(0, 40))}`;
    throw validationFailed(message, [{ path: "/if-match", message }]);
  }
  return Number(m[1]);
}

/** True when `If-None-Match` names the current version (or is `*`). */
function matchesNoneMatch(header: string | undefined, version: number): boolean {
  if (header === undefined) return false;
  const tag = etag(version);
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === tag || v === `W/${tag}`;
  });
}

/** 412 VERSION_NOT_REACHED: `details.currentVersion`, and the ETag of that version. */
function notReached(err: CatalogError, headers: Record<string, string>): Response {
  const res = errorResponse(err.code, err.message, err.details);
  const current = (err.details as { currentVersion?: number } | undefined)?.currentVersion;
  if (current !== undefined) res.headers.set("etag", etag(current));
  for (const [k, v] of Object.entries(headers)) res.headers.set(k, v);
  return res;
}

function checkCurrency(currency: string | undefined) {
  if (currency !== undefined && !isKnownCurrency(currency)) {
    const message = `currency ${currency} is not an ISO 4217 code; it must be one, such as EUR`;
    throw validationFailed(message, [{ path: "/currency", message }]);
  }
}

function fieldsOf(body: { name: string; description?: string; priceCents: number; currency: string; category?: string }): ProductFields {
  checkCurrency(body.currency);
  const fields: ProductFields = {
    name: body.name,
    description: body.description ?? "",
    priceCents: body.priceCents,
    currency: body.currency,
  };
  if (body.category !== undefined) fields.category = body.category;
  return fields;
}

export type ProductRouteDeps = {
  queries: Queries;
  logger: Logger;
  execute: (command: Command) => Promise<CommandResult>;
  newId: () => string;
  bodyLimitBytes: number;
};

/**
 * The two reads, GET /products/:id and GET /products?ids=: served from a cache namespace through
 * `queries`. The catalog api mounts them with its writes; another service (storefront/) mounts
 * them alone, over its own namespace.
 */
export function productReadRoutes(queries: Queries, logger: Logger) {
  return new Elysia({ name: "product-reads" })
    .get(
      "/products/:id",
      // Not async: an answer from the near cache is returned synchronously (a promise per request
      // costs the server about as much as the rest of the route); a read from Redis or PostgreSQL
      // returns a promise of the same response.
      ({ params, query, request }) => {
        if (query.minVersion !== undefined && new URL(request.url).searchParams.getAll("minVersion").length > 1) {
          const message = "minVersion must be given once";
          throw validationFailed(message, [{ path: "/minVersion", message }]);
        }
        const minVersion = query.minVersion === undefined ? undefined : Number(query.minVersion);
        const respond = (read: ProductRead): Response => {
          const cacheHeaders = { "x-cache": read.cache, "cache-status": cacheStatus(read) };
          if (!read.found) {
            // A deletion below the client's minVersion: that version was never reached either.
            if (minVersion !== undefined && read.deletedAt !== undefined && read.deletedAt < minVersion) {
              return notReached(versionNotReached(params.id, minVersion, read.deletedAt), cacheHeaders);
            }
            // A cached tombstone answers 404 as a hit; an unknown id as a miss. Built here, not
            // thrown: the mapper's response of a promise's failure would not carry the headers.
            // A deleted product's 404 carries the deletion's version as its ETag, so another
            // service can cache the tombstone (an evict namespace's marker of that version is
            // answered by it, not read again until the marker expires).
            const { code, message } = notFound(params.id);
            const res = errorResponse(code, message);
            for (const [k, v] of Object.entries(cacheHeaders)) res.headers.set(k, v);
            if (read.deletedAt !== undefined) res.headers.set("etag", etag(read.deletedAt));
            return res;
          }
          if (minVersion !== undefined && read.version < minVersion) {
            // PostgreSQL itself is below N (the cache below N was passed over): the condition the
            // client set cannot be met now, so no older representation is served as if it were.
            return notReached(versionNotReached(params.id, minVersion, read.version), cacheHeaders);
          }
          if (matchesNoneMatch(request.headers.get("if-none-match") ?? undefined, read.version)) {
            return new Response(null, { status: 304, headers: { etag: etag(read.version), ...cacheHeaders } });
          }
          // This is the hottest response: its headers are shared (headersOfRead).
          return new Response(read.json, { headers: headersOfRead(read.version, read.cache, cacheHeaders["cache-status"]) });
        };
        const near = queries.peekProduct(params.id, minVersion);
        if (near) return respond(near);
        const mapRejection = rejectionToResponse(logger, request);
        // A source that refuses below N itself (the catalog api, to another service) rejects with
        // VERSION_NOT_REACHED: answered as above, with the ETag of the version it holds.
        return queries
          .getProduct(params.id, minVersion)
          .then(respond)
          .catch((err: unknown) => (err instanceof CatalogError && err.code === "VERSION_NOT_REACHED" ? notReached(err, SOURCE_REFUSED) : mapRejection(err)));
      },
      { params: IdParams, query: GetQuery, detail: docs.getProduct },
    )
    .get(
      "/products",
      async ({ request }) => {
        // `?ids=a,b&ids=c` means a, b and c: every value counts (the framework keeps only the last).
        const ids = new URL(request.url).searchParams.getAll("ids").flatMap((v) => v.split(",")).map((s) => s.trim());
        const bad = ids.filter((id) => !isValidId(id));
        if (bad.length > 0) {
          const named = bad.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 70))).join(", ");
          const message = `ids must be product ids (1 to 64 letters, digits, _ or -) separated by commas; not ${named}${bad.length > 5 ? ` and ${bad.length - 5} more` : ""}`;
          throw validationFailed(message, [{ path: "/ids", message }]);
        }
        if (ids.length > LIMITS.batchMax) {
          const message = `ids must name at most ${LIMITS.batchMax} products per request, not ${ids.length}`;
          throw validationFailed(message, [{ path: "/ids", message }]);
        }
        const { items, missing } = await queries.getProducts(ids);
        // Cached entries are already JSON: join them rather than parse and re-encode.
        return new Response(`{"items":[${items.join(",")}],"missing":${JSON.stringify(missing)}}`, { headers: JSON_HEADERS });
      },
      { query: BatchQuery, detail: docs.getProducts },
    );
}

export function productRoutes({ queries, logger, execute, newId, bodyLimitBytes }: ProductRouteDeps) {
  const written = (state: ProductState, status = 200, headers: Record<string, string> = {}) =>
    productResponse(status, JSON.stringify(toView(state)), state.version, headers);

  return new Elysia({ name: "products" })
    .parser("jsonStrict", parseJsonBody(bodyLimitBytes))
    .use(productReadRoutes(queries, logger))
    .get(
      "/products/:id/events",
      async ({ params }) => {
        const events = await queries.history(params.id);
        if (events.length === 0) throw notFound(params.id);
        return { events: events.map(({ version, type, data, occurredAt }) => ({ version, type, data, occurredAt })) };
      },
      { params: IdParams, detail: docs.history },
    )
    .post(
      "/products",
      async ({ body }) => {
        const id = body.id ?? newId();
        const { state } = await execute({ type: "CreateProduct", id, fields: fieldsOf(body) });
        return written(state, 201, { location: `/products/${encodeURIComponent(id)}` });
      },
      { body: CreateBody, parse: JSON_BODY, detail: docs.create },
    )
    .put(
      "/products/:id",
      async ({ params, body, headers }) => {
        // The representation GET returns may come back as it is: a matching `id` is accepted,
        // `version` is an If-Match, and `updatedAt` (set by the server) is ignored.
        if (body.id !== undefined && body.id !== params.id) {
          const message = `id must be the path's id (${params.id}) or left out, not ${body.id}`;
          throw validationFailed(message, [{ path: "/id", message }]);
        }
        const header = parseIfMatch(headers["if-match"]);
        if (header !== undefined && body.version !== undefined && header !== body.version) {
          const message = `version must agree with If-Match ("${header}") or be left out, not ${body.version}`;
          throw validationFailed(message, [{ path: "/version", message }]);
        }
        const expectedVersion = header ?? body.version;
        const { id: _id, version: _version, updatedAt: _updatedAt, ...fields } = body;
        const { state } = await execute({ type: "ReplaceProduct", id: params.id, fields: fieldsOf(fields), expectedVersion });
        return written(state);
      },
      { params: IdParams, headers: IfMatchHeaders, body: ReplaceBody, parse: JSON_BODY, detail: docs.replace },
    )
    .patch(
      "/products/:id",
      async ({ params, body, headers }) => {
        const expectedVersion = parseIfMatch(headers["if-match"]);
        checkCurrency(body.currency);
        const { state } = await execute({ type: "PatchProduct", id: params.id, changes: body as FieldChanges, expectedVersion });
        return written(state);
      },
      { params: IdParams, headers: IfMatchHeaders, body: PatchBody, parse: JSON_BODY, detail: docs.patch },
    )
    .delete(
      "/products/:id",
      async ({ params, headers }) => {
        const expectedVersion = parseIfMatch(headers["if-match"]);
        const { state } = await execute({ type: "DeleteProduct", id: params.id, expectedVersion });
        return new Response(null, { status: 204, headers: { etag: etag(state.version) } });
      },
      // A body on a DELETE means nothing here and is not read (as on a GET): neither parsed nor
      // held to a limit, so no shape or size of it costs anything.
      { params: IdParams, headers: IfMatchHeaders, parse: "none", detail: docs.remove },
    );
}
