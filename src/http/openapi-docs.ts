// OpenAPI details of each route: summaries, and every response with its error codes. Nothing here
// restates the contract: requests come from the route schemas (@elysiajs/openapi), the components
// are the TypeBox schemas of src/http/schemas.ts, and each error response is built from the one
// error-code table (src/catalog/errors.ts): its status, its meaning and its codes. Responses are
// described rather than validated at run time, so the hit path does no response validation.
// test/integration/openapi-contract.test.ts holds the document to what the routes answer.
import { Elysia, type AnyElysia, type DocumentDecoration } from "elysia";
import { ERROR_CODES, errorCodes, statusOf, type ErrorCode } from "../catalog/errors.ts";
import {
  CreateBody,
  ErrorBody,
  Health,
  PatchBody,
  Product,
  ProductBatch,
  ProductHistory,
  Readiness,
  ReplaceBody,
  ReplayBody,
  ReplayJobSchema,
  ReplayStarted,
} from "./schemas.ts";

const ref = (name: keyof typeof components.schemas) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: object) => ({ "application/json": { schema } });
const header = (description: string, schema: object = { type: "string" }) => ({ description, schema });

export const components = {
  schemas: {
    Product,
    ProductBatch,
    ProductHistory,
    ReplayStarted,
    ReplayJob: ReplayJobSchema,
    Health,
    Readiness,
    Error: ErrorBody(),
    // Every code the api answers, with its status and meaning: the table, as docs/HTTP.md's.
    ErrorCode: {
      type: "string",
      enum: errorCodes,
      description: `Each code with its HTTP status and when it is answered:\n\n${errorCodes.map((c) => `- \`${c}\` (${statusOf(c)}): ${ERROR_CODES[c].meaning}`).join("\n")}`,
    },
    // Request bodies: the schemas the routes validate with (see requestBodies below).
    ProductCreate: CreateBody,
    ProductReplace: ReplaceBody,
    ProductPatch: PatchBody,
    ReplayRequest: ReplayBody,
  },
  securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
};

/**
 * The error responses for `codes`, one per status of the table, each listing its codes with their
 * meanings and restricting `error.code` to them. Every operation also answers 500 INTERNAL.
 */
export function errorResponses(codes: readonly ErrorCode[]) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set<ErrorCode>([...codes, "INTERNAL"])) {
    const status = statusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, group]) => [
      status,
      {
        description: group.map((code) => `${code}: ${ERROR_CODES[code].meaning}`).join("; "),
        ...(group.includes("UNAVAILABLE") ? { headers: { "Retry-After": header("seconds to wait before retrying", { type: "integer" }) } } : {}),
        content: json(ErrorBody(group)),
      },
    ]),
  );
}

/** Adds headers to some of the responses. */
function withHeaders<R extends Record<string, { headers?: object }>>(responses: R, add: Record<number, object>): R {
  for (const [status, headers] of Object.entries(add)) {
    const r = responses[status];
    if (r) r.headers = { ...r.headers, ...headers };
  }
  return responses;
}

const etag = { ETag: header('The version, quoted: "3"') };
const cacheHeaders = {
  "X-Cache": header("hit or miss", { type: "string", enum: ["hit", "miss"] }),
  "Cache-Status": header("RFC 9211: `catalog-cache; hit`, `catalog-cache; fwd=miss; stored` or `catalog-cache; fwd=miss; detail=not-stored`"),
};
const product = (description: string, headers: object = etag) => ({ description, headers, content: json(ref("Product")) });

// Who can answer what. A JSON body can be malformed, too large or not JSON at all; a DELETE takes
// no body, but Elysia still parses a JSON one it is sent (and refuses a malformed one).
const bodyErrors: ErrorCode[] = ["VALIDATION_FAILED", "MALFORMED_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"];
const commandErrors: ErrorCode[] = ["NOT_FOUND", "CONFLICT_RETRY_EXHAUSTED", "VERSION_CONFLICT", "UNAVAILABLE"];
const adminErrors: ErrorCode[] = ["UNAUTHORIZED"];

const operations = {
  getProduct: {
    summary: "Read a product (cache first)",

    responses: {
      200: product("The product", { ...etag, ...cacheHeaders }),
      304: { description: "Not modified (If-None-Match names the current version)", headers: { ...etag, ...cacheHeaders } },
      ...withHeaders(errorResponses(["VALIDATION_FAILED", "NOT_FOUND", "VERSION_NOT_REACHED", "UNAVAILABLE"]), {
        404: { ETag: header('A deleted product: the deletion\'s version, quoted ("4"); absent for an id that never existed'), ...cacheHeaders },
        412: { ETag: header('The version PostgreSQL holds, quoted, as details.currentVersion: "3"'), ...cacheHeaders },
      }),
    },
  },
  getProducts: {
    summary: "Batch read of up to 100 products",
    responses: {
      200: { description: "Found products in request order; unknown and deleted ids in missing", content: json(ref("ProductBatch")) },
      ...errorResponses(["VALIDATION_FAILED", "UNAVAILABLE"]),
    },
  },
  history: {
    summary: "The product's events, oldest first",
    responses: {
      200: { description: "History", content: json(ref("ProductHistory")) },
      ...errorResponses(["VALIDATION_FAILED", "NOT_FOUND", "UNAVAILABLE"]),
    },
  },
  create: {
    summary: "Create a product",
    responses: {
      201: product("Created", { ...etag, Location: header("/products/{id}") }),
      ...errorResponses([...bodyErrors, "ALREADY_EXISTS", "CONFLICT_RETRY_EXHAUSTED", "UNAVAILABLE"]),
    },
  },
  replace: { summary: "Replace a product", responses: { 200: product("Replaced"), ...errorResponses([...bodyErrors, ...commandErrors]) } },
  patch: { summary: "Change some fields of a product", responses: { 200: product("Changed"), ...errorResponses([...bodyErrors, ...commandErrors]) } },
  remove: {
    summary: "Delete a product (a tombstone event)",
    responses: { 204: { description: "Deleted", headers: etag }, ...errorResponses(["VALIDATION_FAILED", ...commandErrors]) },
  },
  replayStart: {
    summary: "Rebuild a cache namespace (and repair snapshots) from the event store",
    security: [{ bearer: [] }],
    responses: {
      202: {
        description: "Started; follow GET /admin/replay/{jobId}",
        headers: { Location: header("/admin/replay/{jobId}") },
        content: json(ref("ReplayStarted")),
      },
      ...errorResponses([...bodyErrors, ...adminErrors, "FORBIDDEN_ORIGIN", "REPLAY_RUNNING", "UNAVAILABLE"]),
    },
  },
  replayStatus: {
    summary: "Progress of a replay job",
    security: [{ bearer: [] }],
    responses: {
      200: { description: "The job", content: json(ref("ReplayJob")) },
      ...errorResponses(["VALIDATION_FAILED", ...adminErrors, "NOT_FOUND", "UNAVAILABLE"]),
    },
  },
  healthz: { summary: "Liveness (no I/O)", responses: { 200: { description: "alive", content: json(ref("Health")) }, ...errorResponses([]) } },
  readyz: {
    summary: "Readiness: PostgreSQL and Redis answer",
    responses: {
      200: { description: "ready", content: json(ref("Readiness")) },
      503: { description: "not ready; checks say which", content: json(ref("Readiness")) },
      ...errorResponses([]),
    },
  },
  metrics: {
    summary: "Prometheus metrics",
    responses: { 200: { description: "text exposition format", content: { "text/plain": { schema: { type: "string" } } } }, ...errorResponses([]) },
  },
};

export type OperationId = keyof typeof operations;

/**
 * Each route's `detail`: its operation, named by its key. (The objects are plain OpenAPI; the cast
 * only tells TypeScript so, its literal types being wider.) operator-docs.ts builds its own with it.
 */
export const withOperationIds = <K extends string>(ops: Record<K, object>) =>
  Object.fromEntries(Object.entries(ops).map(([operationId, op]) => [operationId, { operationId, ...(op as object) }])) as unknown as Record<K, DocumentDecoration>;

export const docs = withOperationIds(operations);

/**
 * Operations whose JSON body may be left out. The generator marks every request body required and
 * has no option to say otherwise, so the served document is completed here.
 */
const optionalBody: OperationId[] = ["replayStart"];

/**
 * The component each operation's JSON body is, by the schema its route validates with (products.ts,
 * admin.ts): the served document refers to it instead of repeating it inline.
 * test/integration/openapi-completeness.test.ts holds each to its route's schema.
 */
export const requestBodies: Partial<Record<OperationId, keyof typeof components.schemas>> = {
  create: "ProductCreate",
  replace: "ProductReplace",
  patch: "ProductPatch",
  replayStart: "ReplayRequest",
};

/**
 * Headers a route reads itself, without a schema (a header schema makes the framework copy every
 * request's headers into an object, on the hottest route too): declared here instead.
 */
const headerParameters: Partial<Record<OperationId, object[]>> = {
  getProduct: [
    { name: "if-none-match", in: "header", required: false, schema: { type: "string", description: "ETags, comma-separated (or *): 304 when one names the current version" } },
  ],
};

type Document = {
  paths?: Record<string, Record<string, { operationId?: string; requestBody?: { required?: boolean; content?: Record<string, { schema?: object }> }; parameters?: object[] }>>;
};

export function completeDocument(doc: Document): Document {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      if (op.requestBody && optionalBody.includes(op.operationId as OperationId)) op.requestBody.required = false;
      const component = requestBodies[op.operationId as OperationId];
      const body = op.requestBody?.content?.["application/json"];
      if (component && body) body.schema = ref(component);
      const extra = headerParameters[op.operationId as OperationId];
      if (extra) op.parameters = [...(op.parameters ?? []).filter((p) => !extra.some((e) => (e as { name: string }).name === (p as { name: string }).name)), ...extra];
    }
  }
  return doc;
}

/** The OpenAPI plugin, with its document completed (see completeDocument) on the way out. */
export function withCompleteDocument(plugin: AnyElysia) {
  return new Elysia({ name: "openapi-complete" })
    .onAfterHandle(({ response }) => {
      if (response && typeof response === "object" && "openapi" in response && "paths" in response) completeDocument(response as Document);
    })
    .use(plugin);
}
