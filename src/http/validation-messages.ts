// The validator's findings in plain words: one entry per path, saying what the field must be (with
// an example where a pattern would say nothing to a reader), instead of TypeBox's messages (a
// missing field came back twice, "Expected required property" and "Expected integer"; a pattern as a
// regular expression). The error code stays VALIDATION_FAILED; `details` stays [{path, message}].
import { ValueErrorType } from "@sinclair/typebox/errors";
import { LIMITS } from "../catalog/product.ts";

/** One finding of the validator, as Elysia's ValidationError.all lists them. */
export type ValueIssue = { type?: number; path?: string; message?: string; value?: unknown; schema?: Record<string, unknown> };
export type Where = "body" | "query" | "params" | "headers" | string;

/** Patterns that say nothing to a reader, in words. A pattern not listed is described generically. */
const PATTERN_WORDS: Record<string, string> = {
  [LIMITS.idPattern]: "1 to 64 letters, digits, _ or -, such as lamp-42",
  "^[A-Z]{3}$": "3 upper-case letters, such as EUR",
  "^[1-9][0-9]{0,14}$": "a whole number from 1, such as 3",
  "^[A-Za-z0-9_-]{1,32}$": "1 to 32 letters, digits, _ or -, such as storefront",
  "^[A-Za-z0-9-]{1,64}$": "a job id: 1 to 64 letters, digits or -, as in the Location of POST /admin/replay",
};
/** Patterns that forbid characters, added to a description of the string. */
const PATTERN_SUFFIX: Record<string, string> = {
  "^[^\\u0000-\\u001f\\u007f-\\u009f]*$": "without control characters",
  "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$": "without control characters (newlines and tabs are fine)",
};

/**
 * Fields the server sets. In a body that does not take them, they are named as read-only rather
 * than unknown (PUT takes back `id`, `version` and `updatedAt` as GET returns them).
 */
export const READ_ONLY_FIELDS: Record<string, string> = {
  id: "id is read-only here: the path names the product",
  version: 'version is read-only: the server sets it; to write only if the product is at a version, send If-Match: "<version>"',
  createdAt: "createdAt is read-only: the server sets it",
  updatedAt: "updatedAt is read-only: the server sets it",
  deleted: "deleted is read-only: DELETE /products/{id} deletes a product",
};

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** What a value of `schema` must be, in words ("a string of 1 to 200 characters, without control characters"). */
export function describe(schema: Record<string, unknown> | undefined): string {
  if (!schema) return "a valid value";
  const pattern = schema.pattern as string | undefined;
  if (pattern && Object.hasOwn(PATTERN_WORDS, pattern)) return PATTERN_WORDS[pattern]!;
  // A pattern this file has no words for, on a schema that describes itself: its description, which
  // then reads after "<field> must be" ("limit must be 1 to 200 (default 20)").
  if (pattern && !Object.hasOwn(PATTERN_SUFFIX, pattern) && typeof schema.description === "string") return schema.description;
  if (Array.isArray(schema.anyOf)) {
    const members = (schema.anyOf as Record<string, unknown>[]).filter((m) => m.type !== "null");
    const nullable = members.length < (schema.anyOf as unknown[]).length;
    const words = members.map(describe).join(", or ");
    const note = typeof schema.description === "string" ? ` (${schema.description})` : "";
    return nullable ? `${words}, or null${note}` : `${words}${note}`;
  }
  if (Array.isArray(schema.enum)) return `one of ${(schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`;
  if ("const" in schema) return JSON.stringify(schema.const);
  switch (schema.type) {
    case "string": {
      const min = schema.minLength as number | undefined;
      const max = schema.maxLength as number | undefined;
      let words = "a string";
      if (min !== undefined && max !== undefined) words += ` of ${min} to ${plural(max, "character")}`;
      else if (max !== undefined) words += ` of at most ${plural(max, "character")}`;
      else if (min !== undefined) words += min === 1 ? " (not empty)" : ` of at least ${plural(min, "character")}`;
      if (pattern && Object.hasOwn(PATTERN_SUFFIX, pattern)) words += `, ${PATTERN_SUFFIX[pattern]}`;
      else if (pattern) words += ` matching ${pattern}`;
      if (schema.format === "date-time") words += ", a date and time such as 2026-11-29T12:00:00Z";
      return words;
    }
    case "integer":
    case "number": {
      const kind = schema.type === "integer" ? "a whole number" : "a number";
      const min = schema.minimum as number | undefined;
      const max = schema.maximum as number | undefined;
      if (min !== undefined && max !== undefined) return `${kind} from ${min} to ${max}`;
      if (min !== undefined) return `${kind} of at least ${min}`;
      if (max !== undefined) return `${kind} of at most ${max}`;
      return kind;
    }
    case "array": {
      const min = schema.minItems as number | undefined;
      const max = schema.maxItems as number | undefined;
      const items = schema.items as Record<string, unknown> | undefined;
      let words = "an array";
      if (min !== undefined && max !== undefined) words += ` of ${min} to ${max} items`;
      if (items) words += `, each ${describe(items)}`;
      return words;
    }
    case "object":
      return "a JSON object";
    case "boolean":
      return "true or false";
    case "null":
      return "null";
    default:
      return "a valid value";
  }
}

/** `/productIds/3` → `productIds[3]`; `` → the body (or query, path, headers). */
function label(path: string, where: Where): string {
  if (path === "" || path === "/") return where === "body" ? "the body" : where === "query" ? "the query" : where === "params" ? "the path" : `the ${where}`;
  const parts = path.slice(1).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  return parts.map((p, i) => (i > 0 && /^\d+$/.test(p) ? `[${p}]` : i > 0 ? `.${p}` : p)).join("");
}

const found = (value: unknown): string => {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : `"${value}"`;
  return JSON.stringify(value) ?? typeof value;
};

/** One finding in words. */
function sentence(issue: ValueIssue, where: Where): string {
  const path = issue.path ?? "";
  const name = label(path, where);
  const key = path.slice(path.lastIndexOf("/") + 1);
  switch (issue.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `${name} is required: ${describe(issue.schema)}`;
    case ValueErrorType.ObjectAdditionalProperties:
      // Own keys only: a body's key may be "__proto__" or "constructor".
      if (where === "body" && Object.hasOwn(READ_ONLY_FIELDS, key)) return READ_ONLY_FIELDS[key]!;
      if (where === "query") return `${name} is not a query parameter of this route`;
      return `${name} is not a field of this request (unknown fields are refused)`;
    case ValueErrorType.ObjectMinProperties:
      return `${name} must name at least one field to change`;
    case ValueErrorType.StringMaxLength:
      return `${name} must be ${describe(issue.schema)} (it has ${typeof issue.value === "string" ? issue.value.length : "more"})`;
    default: {
      const what = describe(issue.schema);
      if (issue.value === undefined) return `${name} must be ${what}`;
      return `${name} must be ${what}, not ${found(issue.value)}`;
    }
  }
}

/** Rank of a finding among those at one path: the one that says most to the client first. */
function rank(issue: ValueIssue): number {
  if (issue.type === ValueErrorType.ObjectRequiredProperty) return 0;
  if (issue.type === ValueErrorType.ObjectAdditionalProperties) return 1;
  return 2;
}

/** The validator's findings as one plain entry per path, at most `limit`. */
export function plainIssues(issues: readonly ValueIssue[], where: Where, limit = 20): { path: string; message: string }[] {
  const byPath = new Map<string, ValueIssue>();
  for (const issue of issues) {
    const path = issue.path || "/";
    const held = byPath.get(path);
    if (!held || rank(issue) < rank(held)) byPath.set(path, issue);
  }
  return [...byPath].slice(0, limit).map(([path, issue]) => ({ path, message: sentence(issue, where) }));
}
