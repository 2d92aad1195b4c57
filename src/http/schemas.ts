// The HTTP contract's schemas. Requests: one TypeBox schema gives the type, the validation and the
// OpenAPI parameters and bodies. Responses: TypeBox schemas that are the OpenAPI document's
// components (src/http/openapi-docs.ts); they are not validated at run time (a cache hit is served
// as stored), so the compiler holds each one to the type the code answers with (bottom of the file).
import { Type, type Static } from "@sinclair/typebox";
import { t } from "elysia";
import { errorCodes, type ErrorCode } from "../catalog/errors.ts";
import { EVENT_TYPES, type EventType } from "../catalog/events.ts";
import { LIMITS, type ProductView } from "../catalog/product.ts";
import type { ReplayJob } from "../usecases/ports.ts";

// Printable text: no C0/C1 control characters in one-line fields (a description may hold
// newlines and tabs).
const NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
const TEXT_NO_CONTROL = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";

export const ProductId = t.String({ pattern: LIMITS.idPattern, description: "1-64 of [A-Za-z0-9_-]" });

const fields = {
  name: t.String({ minLength: 1, maxLength: LIMITS.nameMax, pattern: NO_CONTROL }),
  description: t.String({ maxLength: LIMITS.descriptionMax, pattern: TEXT_NO_CONTROL }),
  // TypeBox's own Integer: Elysia's t.Integer would also accept the string "12".
  priceCents: Type.Integer({ minimum: 0, maximum: LIMITS.priceMax }),
  currency: t.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 code" }),
  category: t.String({ minLength: 1, maxLength: LIMITS.categoryMax, pattern: NO_CONTROL }),
};

const strict = { additionalProperties: false } as const;

const writable = {
  name: fields.name,
  description: t.Optional(fields.description),
  priceCents: fields.priceCents,
  currency: fields.currency,
  category: t.Optional(fields.category),
};

export const CreateBody = t.Object({ id: t.Optional(ProductId), ...writable }, strict);

/**
 * A full replace. It also takes the representation GET returns: `id` (must equal the path's),
 * `version` (an If-Match: 412 VERSION_CONFLICT when the product is at another version), and
 * `updatedAt` (set by the server; ignored).
 */
export const ReplaceBody = t.Object(
  {
    ...writable,
    id: t.Optional(ProductId),
    version: t.Optional(Type.Integer({ minimum: 1, maximum: 999_999_999_999_999, description: "the version the write expects, as If-Match" })),
    updatedAt: t.Optional(t.String({ maxLength: 64, description: "read-only; ignored" })),
  },
  strict,
);

export const PatchBody = t.Object(
  {
    name: t.Optional(fields.name),
    description: t.Optional(fields.description),
    priceCents: t.Optional(fields.priceCents),
    currency: t.Optional(fields.currency),
    category: t.Optional(t.Union([fields.category, t.Null()], { description: "null removes the category" })),
  },
  { ...strict, minProperties: 1 },
);

export const IdParams = t.Object({ id: ProductId });

// Conditional requests. Declared so the document lists them; the routes check the values
// themselves (parseIfMatch in products.ts), so any string passes here. (If-None-Match, read by
// GET /products/:id, is declared in openapi-docs.ts: a header schema there would cost every read.)
export const IfMatchHeaders = t.Object({
  "if-match": t.Optional(t.String({ description: 'Optimistic concurrency: "<version>" (or *); another version is 412 VERSION_CONFLICT, anything else 400 VALIDATION_FAILED' })),
});

const PositiveInt = t.String({ pattern: "^[1-9][0-9]{0,14}$" });
export const GetQuery = t.Object({
  minVersion: t.Optional(
    t.String({
      ...PositiveInt,
      description:
        "Read-your-writes: serve version N or newer. A cache below N is passed over for PostgreSQL; when PostgreSQL itself is below N, 412 VERSION_NOT_REACHED with details.currentVersion and its ETag",
    }),
  ),
});
export const BatchQuery = t.Object({ ids: t.String({ minLength: 1, maxLength: LIMITS.batchMax * 65 }) });

export const ReplayBody = t.Object(
  {
    productIds: t.Optional(t.Array(ProductId, { minItems: 1, maxItems: 10_000, description: "absent: every product" })),
    namespace: t.Optional(t.String({ pattern: "^[A-Za-z0-9_-]{1,32}$", description: "cache namespace to rebuild; default: the api's" })),
  },
  { ...strict, description: "optional: no body (or an empty one) replays every product into the api's namespace" },
);
export const JobParams = t.Object({ jobId: t.String({ pattern: "^[A-Za-z0-9-]{1,64}$" }) });

// ---------------------------------------------------------------------------------------------
// Responses

const readOnly = { readOnly: true } as const;
const dateTime = (description?: string) => t.String({ format: "date-time", ...(description ? { description } : {}) });

export const Product = t.Object(
  {
    id: ProductId,
    name: fields.name,
    description: fields.description,
    priceCents: fields.priceCents,
    currency: fields.currency,
    category: t.Optional(fields.category),
    version: Type.Integer({ minimum: 1, ...readOnly }),
    updatedAt: t.String({ format: "date-time", ...readOnly }),
  },
  strict,
);

export const ProductBatch = t.Object(
  {
    items: t.Array(Product, { description: "found products, in request order, each once" }),
    missing: t.Array(ProductId, { description: "unknown and deleted ids" }),
  },
  strict,
);

export const ProductHistory = t.Object(
  {
    events: t.Array(
      t.Object(
        {
          version: Type.Integer({ minimum: 1 }),
          type: t.UnionEnum(EVENT_TYPES as [EventType, ...EventType[]]),
          data: t.Record(t.String(), t.Unknown(), { description: "ProductCreated: the fields; ProductUpdated: the changed ones (a null category was removed); ProductDeleted: {}" }),
          occurredAt: dateTime(),
        },
        strict,
      ),
      { description: "oldest first" },
    ),
  },
  strict,
);

const count = (description?: string) => Type.Integer({ minimum: 0, ...(description ? { description } : {}) });

export const ReplayJobSchema = t.Object(
  {
    jobId: t.String(),
    status: t.UnionEnum(["running", "completed", "failed", "abandoned"], { description: "abandoned: running, but its instance stopped reporting" }),
    scope: t.UnionEnum(["all", "ids"]),
    namespace: t.String(),
    total: count("every product (scope all), or the distinct ids asked for (scope ids)"),
    processed: count(),
    missing: count("ids asked for that have no events"),
    missingIds: t.Array(t.String(), { description: "the ids asked for that have no events (the first 100)" }),
    snapshotsRepaired: count(),
    cacheWritten: count("missing, older, marker, unreadable or other-epoch entries replaced"),
    cacheRepaired: count("impossible or wrong entries replaced"),
    cacheUnchanged: count(),
    cacheNewer: count("a write newer than the replayed events landed first: left alone"),
    errors: count(),
    ratePerSecond: t.Number({ minimum: 0 }),
    errorSamples: t.Array(t.Object({ productId: t.String(), message: t.String() }, strict)),
    startedAt: dateTime(),
    updatedAt: dateTime(),
    finishedAt: t.Union([dateTime(), t.Null()]),
    failure: t.Union([t.String(), t.Null()]),
  },
  strict,
);

export const ReplayStarted = t.Pick(ReplayJobSchema, ["jobId", "status", "scope", "namespace"], strict);

export const Health = t.Object({ status: t.Literal("ok") }, strict);
export const Readiness = t.Object(
  {
    status: t.UnionEnum(["ready", "unavailable"]),
    checks: t.Record(t.String(), t.String(), { description: "per dependency (postgres, redis): ok, or why not" }),
  },
  strict,
);

/** `{"error": {"code", "message", "details"?}}` with `code` one of `codes` (default: every code of the table). */
export const ErrorBody = (codes: readonly ErrorCode[] = errorCodes) =>
  t.Object(
    {
      error: t.Object(
        {
          code: Type.Unsafe<ErrorCode>({ type: "string", enum: [...codes] }),
          message: t.String(),
          details: t.Optional(t.Unknown({ description: "the failing paths, or what the code says it carries" })),
        },
        strict,
      ),
    },
    strict,
  );

// The compiler's check that each response schema is the type the code answers with.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(ok: Same<A, B>) => ok;
same<Static<typeof Product>, ProductView>(true);
same<Static<typeof ReplayJobSchema>, ReplayJob>(true);
same<Static<typeof ProductHistory>["events"][number]["type"], EventType>(true);
