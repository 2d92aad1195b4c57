// Request schemas: one TypeBox schema gives both the type and the validation.
import { Type } from "@sinclair/typebox";
import { t } from "elysia";
import { LIMITS } from "../catalog/product.ts";

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

const PositiveInt = t.String({ pattern: "^[1-9][0-9]{0,14}$" });
export const GetQuery = t.Object({ minVersion: t.Optional(PositiveInt) });
export const BatchQuery = t.Object({ ids: t.String({ minLength: 1, maxLength: LIMITS.batchMax * 65 }) });
