// OpenAPI details of each route: summaries and every response with its error codes. Schemas of
// requests come from the route schemas themselves (@elysiajs/openapi); responses are described
// here rather than validated at run time, so the hit path does no response validation.
import type { DocumentDecoration } from "elysia";
import type { ErrorCode } from "../catalog/errors.ts";

// The objects below are plain OpenAPI; this only tells TypeScript so (its literal types are wider).
const asDocs = <K extends string>(d: Record<K, object>) => d as Record<K, DocumentDecoration>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });

function errors(status: number, codes: ErrorCode[], description: string) {
  return {
    [status]: {
      description: `${description}. Codes: ${codes.join(", ")}`,
      content: json({ allOf: [ref("Error")], example: { error: { code: codes[0], message: "…" } } }),
    },
  };
}

const etag = { ETag: { description: 'The version, quoted: "3"', schema: { type: "string" } } };
const product = (description: string, headers: object = etag) => ({ description, headers, content: json(ref("Product")) });
const bad = errors(400, ["VALIDATION_FAILED", "MALFORMED_JSON"], "The request breaks the contract");
const badQuery = errors(400, ["VALIDATION_FAILED"], "An id, query or header breaks the contract");
const notFound = errors(404, ["NOT_FOUND"], "Unknown or deleted product");
const unavailable = errors(503, ["UNAVAILABLE"], "PostgreSQL cannot be reached; retry after Retry-After seconds");
const writeErrors = {
  ...unavailable,
  ...bad,
  ...notFound,
  ...errors(409, ["CONFLICT_RETRY_EXHAUSTED"], "Writers in other instances kept winning the version"),
  ...errors(412, ["VERSION_CONFLICT"], "If-Match names another version; details.currentVersion"),
  ...errors(413, ["PAYLOAD_TOO_LARGE"], "The body is over BODY_LIMIT_BYTES"),
  ...errors(415, ["UNSUPPORTED_MEDIA_TYPE"], "The body is not application/json"),
};
const ifMatch = {
  name: "If-Match",
  in: "header",
  required: false,
  description: 'Optimistic concurrency: "<version>" (or *); a mismatch is 412 VERSION_CONFLICT',
  schema: { type: "string" },
};
const unauthorized = errors(401, ["UNAUTHORIZED"], "Missing or wrong bearer token");

export const components = {
  schemas: {
    Product: {
      type: "object",
      required: ["id", "name", "description", "priceCents", "currency", "version", "updatedAt"],
      properties: {
        id: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" },
        name: { type: "string", minLength: 1, maxLength: 200 },
        description: { type: "string", maxLength: 5000 },
        priceCents: { type: "integer", minimum: 0, maximum: 1e12 },
        currency: { type: "string", pattern: "^[A-Z]{3}$", description: "ISO 4217" },
        category: { type: "string", minLength: 1, maxLength: 100 },
        version: { type: "integer", minimum: 1, readOnly: true },
        updatedAt: { type: "string", format: "date-time", readOnly: true },
      },
    },
    Error: {
      type: "object",
      required: ["error"],
      properties: {
        error: {
          type: "object",
          required: ["code", "message"],
          properties: {
            code: {
              type: "string",
              enum: [
                "VALIDATION_FAILED",
                "MALFORMED_JSON",
                "UNAUTHORIZED",
                "NOT_FOUND",
                "ROUTE_NOT_FOUND",
                "ALREADY_EXISTS",
                "CONFLICT_RETRY_EXHAUSTED",
                "REPLAY_RUNNING",
                "VERSION_CONFLICT",
                "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE",
                "UNAVAILABLE",
              ] satisfies ErrorCode[],
            },
            message: { type: "string" },
            details: {},
          },
        },
      },
    },
  },
  securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
};

export const docs = asDocs({
  getProduct: {
    summary: "Read a product (cache first)",
    parameters: [{ name: "If-None-Match", in: "header", required: false, schema: { type: "string" }, description: "an ETag: 304 when it is current" }],
    responses: {
      200: product("The product", { ...etag, "X-Cache": { description: "hit or miss", schema: { type: "string", enum: ["hit", "miss"] } } }),
      304: { description: "Not modified (If-None-Match matched)" },
      ...badQuery,
      ...notFound,
      ...unavailable,
    },
  },
  getProducts: {
    summary: "Batch read of up to 100 products",
    responses: {
      200: {
        description: "Found products in request order; unknown and deleted ids in missing",
        content: json({ type: "object", properties: { items: { type: "array", items: ref("Product") }, missing: { type: "array", items: { type: "string" } } } }),
      },
      ...badQuery,
    },
  },
  history: {
    summary: "The product's events, oldest first",
    responses: {
      200: {
        description: "History",
        content: json({
          type: "object",
          properties: {
            events: {
              type: "array",
              items: {
                type: "object",
                properties: { version: { type: "integer" }, type: { type: "string" }, data: { type: "object" }, occurredAt: { type: "string", format: "date-time" } },
              },
            },
          },
        }),
      },
      ...badQuery,
      ...notFound,
    },
  },
  create: {
    summary: "Create a product",
    responses: {
      201: product("Created", { ...etag, Location: { schema: { type: "string" } } }),
      ...bad,
      ...errors(409, ["ALREADY_EXISTS"], "The id exists; details.currentVersion"),
      ...unavailable,
      ...errors(413, ["PAYLOAD_TOO_LARGE"], "The body is over BODY_LIMIT_BYTES"),
      ...errors(415, ["UNSUPPORTED_MEDIA_TYPE"], "The body is not application/json"),
    },
  },
  replace: { summary: "Replace a product", parameters: [ifMatch], responses: { 200: product("Replaced"), ...writeErrors } },
  patch: { summary: "Change some fields of a product", parameters: [ifMatch], responses: { 200: product("Changed"), ...writeErrors } },
  remove: {
    summary: "Delete a product (a tombstone event)",
    parameters: [ifMatch],
    responses: { 204: { description: "Deleted", headers: etag }, ...badQuery, ...notFound, ...errors(412, ["VERSION_CONFLICT"], "If-Match names another version") },
  },
  replayStart: {
    summary: "Rebuild a cache namespace (and repair snapshots) from the event store",
    security: [{ bearer: [] }],
    responses: {
      202: { description: "Started; follow GET /admin/replay/{jobId}", content: json({ type: "object", properties: { jobId: { type: "string" } } }) },
      ...bad,
      ...unauthorized,
      ...errors(409, ["REPLAY_RUNNING"], "A full replay of that namespace runs; details.jobId"),
      ...errors(415, ["UNSUPPORTED_MEDIA_TYPE"], "The body is not application/json"),
    },
  },
  replayStatus: {
    summary: "Progress of a replay job",
    security: [{ bearer: [] }],
    responses: {
      200: { description: "status (running, completed, failed, abandoned), processed, total, rate, counts, errors", content: json({ type: "object" }) },
      ...badQuery,
      ...unauthorized,
      ...errors(404, ["NOT_FOUND"], "Unknown job"),
    },
  },
  healthz: { summary: "Liveness (no I/O)", responses: { 200: { description: "alive" } } },
  readyz: { summary: "Readiness: PostgreSQL and Redis answer", responses: { 200: { description: "ready" }, 503: { description: "not ready; checks say which" } } },
  metrics: { summary: "Prometheus metrics", responses: { 200: { description: "text exposition format" } } },
});
