// Invariant 5: invalid input changes nothing and gets a 4xx with a stable error code.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { describe as inWords } from "../../src/http/validation-messages.ts";
import { createHarness } from "../support/harness.ts";

const h = createHarness("bad");
let P = ""; // an existing, cached product that every bad write aims at

beforeAll(async () => {
  P = (await h.create({ id: h.id("target") })).id;
});
afterAll(() => h.close());

const valid = { name: "Lamp", priceCents: 1000, currency: "EUR" };
const json = (body: unknown) => ({ body });
const raw = (raw: string | Uint8Array, type = "application/json") => ({ raw, headers: { "content-type": type } });

type Case = [label: string, method: string, path: () => string, init: () => Parameters<typeof h.call>[2], status: number, code: string];

const cases: Case[] = [
  ["missing name", "POST", () => "/products", () => json({ priceCents: 1, currency: "EUR" }), 400, "VALIDATION_FAILED"],
  ["empty name", "POST", () => "/products", () => json({ ...valid, name: "" }), 400, "VALIDATION_FAILED"],
  ["name of 201 characters", "POST", () => "/products", () => json({ ...valid, name: "n".repeat(201) }), 400, "VALIDATION_FAILED"],
  ["name that is a number", "POST", () => "/products", () => json({ ...valid, name: 42 }), 400, "VALIDATION_FAILED"],
  ["name with a control character", "POST", () => "/products", () => json({ ...valid, name: "La\u0007mp" }), 400, "VALIDATION_FAILED"],
  ["negative price", "POST", () => "/products", () => json({ ...valid, priceCents: -1 }), 400, "VALIDATION_FAILED"],
  ["price above 10^12", "POST", () => "/products", () => json({ ...valid, priceCents: 1_000_000_000_001 }), 400, "VALIDATION_FAILED"],
  ["fractional price", "POST", () => "/products", () => json({ ...valid, priceCents: 10.5 }), 400, "VALIDATION_FAILED"],
  ["price as a string", "POST", () => "/products", () => json({ ...valid, priceCents: "1000" }), 400, "VALIDATION_FAILED"],
  ["null price", "POST", () => "/products", () => json({ ...valid, priceCents: null }), 400, "VALIDATION_FAILED"],
  ["lower-case currency", "POST", () => "/products", () => json({ ...valid, currency: "eur" }), 400, "VALIDATION_FAILED"],
  ["four-letter currency", "POST", () => "/products", () => json({ ...valid, currency: "EURO" }), 400, "VALIDATION_FAILED"],
  ["unknown currency code", "POST", () => "/products", () => json({ ...valid, currency: "XYZ" }), 400, "VALIDATION_FAILED"],
  ["description of 5001 characters", "POST", () => "/products", () => json({ ...valid, description: "d".repeat(5001) }), 400, "VALIDATION_FAILED"],
  ["empty category", "POST", () => "/products", () => json({ ...valid, category: "" }), 400, "VALIDATION_FAILED"],
  ["category of 101 characters", "POST", () => "/products", () => json({ ...valid, category: "c".repeat(101) }), 400, "VALIDATION_FAILED"],
  ["unknown field", "POST", () => "/products", () => json({ ...valid, color: "red" }), 400, "VALIDATION_FAILED"],
  ["read-only version in the body", "POST", () => "/products", () => json({ ...valid, version: 7 }), 400, "VALIDATION_FAILED"],
  ["__proto__ key", "POST", () => "/products", () => raw('{"name":"L","priceCents":1,"currency":"EUR","__proto__":{"admin":true}}'), 400, "VALIDATION_FAILED"],
  ["id with unicode", "POST", () => "/products", () => json({ ...valid, id: "café" }), 400, "VALIDATION_FAILED"],
  ["id with a space", "POST", () => "/products", () => json({ ...valid, id: "a b" }), 400, "VALIDATION_FAILED"],
  ["id with a NUL character", "POST", () => "/products", () => json({ ...valid, id: "a\\u0000b" }), 400, "VALIDATION_FAILED"],
  ["id of 65 characters", "POST", () => "/products", () => json({ ...valid, id: "i".repeat(65) }), 400, "VALIDATION_FAILED"],
  ["empty id", "POST", () => "/products", () => json({ ...valid, id: "" }), 400, "VALIDATION_FAILED"],
  ["id that exists", "POST", () => "/products", () => json({ ...valid, id: P }), 409, "ALREADY_EXISTS"],
  ["body that is an array", "POST", () => "/products", () => json([valid]), 400, "VALIDATION_FAILED"],
  ["body that is a string", "POST", () => "/products", () => json("lamp"), 400, "VALIDATION_FAILED"],
  ["body that is null", "POST", () => "/products", () => raw("null"), 400, "VALIDATION_FAILED"],
  ["malformed JSON", "POST", () => "/products", () => raw('{"name": "Lamp",'), 400, "MALFORMED_JSON"],
  ["invalid UTF-8", "POST", () => "/products", () => raw(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, "MALFORMED_JSON"],
  ["empty body", "POST", () => "/products", () => raw(""), 400, "VALIDATION_FAILED"],
  ["text/plain body", "POST", () => "/products", () => raw(JSON.stringify(valid), "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"],
  ["form body", "POST", () => "/products", () => raw("name=Lamp", "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE"],
  ["no content type", "POST", () => "/products", () => ({ raw: JSON.stringify(valid) }), 415, "UNSUPPORTED_MEDIA_TYPE"],
  ["body over the size limit", "POST", () => "/products", () => json({ ...valid, description: "x".repeat(70_000) }), 413, "PAYLOAD_TOO_LARGE"],
  ["PUT without currency", "PUT", () => `/products/${P}`, () => json({ name: "Lamp", priceCents: 1 }), 400, "VALIDATION_FAILED"],
  ["PUT with another product's id in the body", "PUT", () => `/products/${P}`, () => json({ ...valid, id: `${P}-other` }), 400, "VALIDATION_FAILED"],
  ["PUT whose body version disagrees with If-Match", "PUT", () => `/products/${P}`, () => ({ body: { ...valid, version: 1 }, headers: { "if-match": '"2"' } }), 400, "VALIDATION_FAILED"],
  ["PUT with a stale version in the body", "PUT", () => `/products/${P}`, () => json({ ...valid, version: 9 }), 412, "VERSION_CONFLICT"],
  ["PUT with a version of 0", "PUT", () => `/products/${P}`, () => json({ ...valid, version: 0 }), 400, "VALIDATION_FAILED"],
  // Hostile shapes (issue 9): refused in one linear pass, before anything renders the value.
  ["64 KB of nested arrays", "POST", () => "/products", () => raw(`${"[".repeat(32_000)}${"]".repeat(32_000)}`), 400, "VALIDATION_FAILED"],
  ["nested objects past the depth limit", "PATCH", () => `/products/${P}`, () => raw(`${'{"a":'.repeat(40)}1${"}".repeat(40)}`), 400, "VALIDATION_FAILED"],
  ["nested arrays to the admin route without a token", "POST", () => "/admin/replay", () => raw(`${"[".repeat(32_000)}${"]".repeat(32_000)}`), 401, "UNAUTHORIZED"],
  ["nested arrays to the admin route", "POST", () => "/admin/replay", () => ({ ...raw(`${"[".repeat(32_000)}${"]".repeat(32_000)}`), admin: true }), 400, "VALIDATION_FAILED"],
  ["a bad admin body without a token", "POST", () => "/admin/replay", () => json({ productIds: "x" }), 401, "UNAUTHORIZED"],
  ["a bad job id without a token", "GET", () => "/admin/replay/%00", () => ({}), 401, "UNAUTHORIZED"],
  // Text PostgreSQL's jsonb cannot hold (it used to roll the write back and answer 500).
  ["a lone high surrogate in name", "POST", () => "/products", () => raw('{"name":"La\\ud800mp","priceCents":1,"currency":"EUR"}'), 400, "VALIDATION_FAILED"],
  ["a lone low surrogate in description", "PATCH", () => `/products/${P}`, () => raw('{"description":"x\\udc00"}'), 400, "VALIDATION_FAILED"],
  ["a lone surrogate in category", "PUT", () => `/products/${P}`, () => raw('{"name":"L","priceCents":1,"currency":"EUR","category":"\\ud83d"}'), 400, "VALIDATION_FAILED"],
  ["NUL in description", "PATCH", () => `/products/${P}`, () => raw('{"description":"a\\u0000b"}'), 400, "VALIDATION_FAILED"],
  ["NUL in a key", "POST", () => "/products", () => raw('{"name":"L","priceCents":1,"currency":"EUR","a\\u0000":1}'), 400, "VALIDATION_FAILED"],
  ["a lone surrogate in an admin body", "POST", () => "/admin/replay", () => ({ ...raw('{"productIds":["\\ud800"]}'), admin: true }), 400, "VALIDATION_FAILED"],
  ["minVersion given twice", "GET", () => `/products/${P}?minVersion=1&minVersion=2`, () => ({}), 400, "VALIDATION_FAILED"],
  ["If-Match that is not a quoted version", "PUT", () => `/products/${P}`, () => ({ body: valid, headers: { "if-match": "1" } }), 400, "VALIDATION_FAILED"],
  ["weak If-Match", "PUT", () => `/products/${P}`, () => ({ body: valid, headers: { "if-match": 'W/"1"' } }), 400, "VALIDATION_FAILED"],
  ["If-Match of version 0", "PATCH", () => `/products/${P}`, () => ({ body: { priceCents: 1 }, headers: { "if-match": '"0"' } }), 400, "VALIDATION_FAILED"],
  ["If-Match with letters", "DELETE", () => `/products/${P}`, () => ({ headers: { "if-match": '"abc"' } }), 400, "VALIDATION_FAILED"],
  ["stale If-Match on PATCH", "PATCH", () => `/products/${P}`, () => ({ body: { priceCents: 1 }, headers: { "if-match": '"9"' } }), 412, "VERSION_CONFLICT"],
  ["stale If-Match on DELETE", "DELETE", () => `/products/${P}`, () => ({ headers: { "if-match": '"9"' } }), 412, "VERSION_CONFLICT"],
  ["empty PATCH", "PATCH", () => `/products/${P}`, () => json({}), 400, "VALIDATION_FAILED"],
  ["PATCH with a numeric category", "PATCH", () => `/products/${P}`, () => json({ category: 5 }), 400, "VALIDATION_FAILED"],
  ["PATCH with a null name", "PATCH", () => `/products/${P}`, () => json({ name: null }), 400, "VALIDATION_FAILED"],
  ["PATCH with an unknown currency", "PATCH", () => `/products/${P}`, () => json({ currency: "QQQ" }), 400, "VALIDATION_FAILED"],
  ["PATCH of an unknown product", "PATCH", () => `/products/${P}-ghost`, () => json({ priceCents: 1 }), 404, "NOT_FOUND"],
  ["DELETE of a unicode id", "DELETE", () => "/products/%C3%A9t%C3%A9", () => ({}), 400, "VALIDATION_FAILED"],
  ["PUT of a 65-character id", "PUT", () => `/products/${"i".repeat(65)}`, () => json(valid), 400, "VALIDATION_FAILED"],
  ["GET of an id with a control character", "GET", () => "/products/a%01b", () => ({}), 400, "VALIDATION_FAILED"],
  ["minVersion of 0", "GET", () => `/products/${P}?minVersion=0`, () => ({}), 400, "VALIDATION_FAILED"],
  ["minVersion that is not a number", "GET", () => `/products/${P}?minVersion=abc`, () => ({}), 400, "VALIDATION_FAILED"],
  ["batch without ids", "GET", () => "/products", () => ({}), 400, "VALIDATION_FAILED"],
  ["batch with an empty id", "GET", () => `/products?ids=${P},,x`, () => ({}), 400, "VALIDATION_FAILED"],
  ["batch of 101 ids", "GET", () => `/products?ids=${Array.from({ length: 101 }, (_, i) => `b${i}`).join(",")}`, () => ({}), 400, "VALIDATION_FAILED"],
];

async function fingerprint() {
  const [events, snapshots, outbox, row, keys] = await Promise.all([
    h.prisma.event.count(),
    h.prisma.productSnapshot.count(),
    h.prisma.outboxMessage.count(),
    h.prisma.productSnapshot.findUnique({ where: { id: P } }),
    h.redis.keys(`${h.prefix}:*`),
  ]);
  const cached = await h.redis.get(h.key(P));
  return { events, snapshots, outbox, row, keys: keys.sort(), cached };
}

describe("bad requests", () => {
  test("the table holds at least 30 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  test.each(cases)("%s → 4xx with a stable code, nothing changed", async (_label, method, path, init, status, code) => {
    const before = await fingerprint();
    const r = await h.call(method, path(), init());
    expect({ status: r.status, code: r.body?.error?.code }).toEqual({ status, code });
    expect(typeof r.body.error.message).toBe("string");
    expect(await fingerprint()).toEqual(before);
  });
});

describe("validation errors in plain words (issue 14, item 4)", () => {
  const refuse = async (method: string, path: string, init: Parameters<typeof h.call>[2]) => {
    const r = await h.call(method, path, init);
    expect(Object.keys(r.body)).toEqual(["error"]);
    return { status: r.status, ...(r.body.error as { code: string; message: string; details?: unknown }) };
  };

  test("every refusal of the table lists each path once, in words: no validator wording, no regular expression", async () => {
    const bad: string[] = [];
    for (const [label, method, path, init, , code] of cases) {
      if (code !== "VALIDATION_FAILED") continue;
      const r = await refuse(method, path(), init());
      const details = Array.isArray(r.details) ? (r.details as { path: string; message: string }[]) : [];
      if (details.length === 0) bad.push(`${label}: no entries in details: ${JSON.stringify(r.details)}`);
      const paths = details.map((d) => d.path);
      if (new Set(paths).size !== paths.length) bad.push(`${label}: a path twice: ${JSON.stringify(details)}`);
      for (const text of [r.message, ...details.map((d) => d.message)]) {
        if (/Expected|Unexpected property|\^\[|\$'/.test(text)) bad.push(`${label}: ${text}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("a missing field is one entry that says it is required and what it takes", async () => {
    expect(await refuse("POST", "/products", { body: { name: "Lamp", currency: "EUR" } })).toEqual({
      status: 400,
      code: "VALIDATION_FAILED",
      message: "priceCents is required: a whole number from 0 to 1000000000000",
      details: [{ path: "/priceCents", message: "priceCents is required: a whole number from 0 to 1000000000000" }],
    });
  });

  test("a lower-case currency gets a hint with an example, not a pattern", async () => {
    const r = await refuse("POST", "/products", { body: { ...valid, currency: "eur" } });
    expect(r.details).toEqual([{ path: "/currency", message: 'currency must be 3 upper-case letters, such as EUR, not "eur"' }]);
    expect(r.message).toBe('currency must be 3 upper-case letters, such as EUR, not "eur"');
    const patch = await refuse("PATCH", `/products/${P}`, { body: { currency: "usd" } });
    expect(patch.details).toEqual([{ path: "/currency", message: 'currency must be 3 upper-case letters, such as EUR, not "usd"' }]);
  });

  test("several problems: one entry each, the message names the first and counts the rest", async () => {
    const r = await refuse("POST", "/products", { body: { name: "", priceCents: 1.5, currency: "EURO", color: "red" } });
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    expect([...(r.details as { path: string }[])].sort(byPath)).toEqual([
      { path: "/name", message: 'name must be a string of 1 to 200 characters, without control characters, not ""' },
      { path: "/priceCents", message: "priceCents must be a whole number from 0 to 1000000000000, not 1.5" },
      { path: "/currency", message: 'currency must be 3 upper-case letters, such as EUR, not "EURO"' },
      { path: "/color", message: "color is not a field of this request (unknown fields are refused)" },
    ].sort(byPath));
    expect(r.message).toMatch(/ \(and 3 more in details\)$/);
  });

  test("a key named like a prototype member is an unknown field, not something else", async () => {
    for (const key of ["__proto__", "constructor", "toString"]) {
      const r = await refuse("POST", "/products", raw(`{"name":"L","priceCents":1,"currency":"EUR","${key}":{"a":1}}`));
      expect(r.details).toEqual([{ path: `/${key}`, message: `${key} is not a field of this request (unknown fields are refused)` }]);
    }
  });

  test("read-only fields in a POST, PUT or PATCH body are named as read-only", async () => {
    const post = await refuse("POST", "/products", { body: { ...valid, version: 3, createdAt: "2026-01-01T00:00:00Z" } });
    expect(post.details).toEqual([
      { path: "/version", message: 'version is read-only: the server sets it; to write only if the product is at a version, send If-Match: "<version>"' },
      { path: "/createdAt", message: "createdAt is read-only: the server sets it" },
    ]);
    // PUT takes back id, version and updatedAt as GET returns them; createdAt it does not take.
    const put = await refuse("PUT", `/products/${P}`, { body: { ...valid, createdAt: "2026-01-01T00:00:00Z" } });
    expect(put.details).toEqual([{ path: "/createdAt", message: "createdAt is read-only: the server sets it" }]);
    const patch = await refuse("PATCH", `/products/${P}`, { body: { priceCents: 1, id: P, updatedAt: "2026-01-01T00:00:00Z" } });
    expect(patch.details).toEqual([
      { path: "/id", message: "id is read-only here: the path names the product" },
      { path: "/updatedAt", message: "updatedAt is read-only: the server sets it" },
    ]);
  });

  test("the query, the path and the admin body are described the same way", async () => {
    expect((await refuse("GET", `/products/${P}?minVersion=0`, {})).details).toEqual([{ path: "/minVersion", message: 'minVersion must be a whole number from 1, such as 3, not "0"' }]);
    expect((await refuse("GET", `/products/${P}?colour=red`, {})).details).toEqual([{ path: "/colour", message: "colour is not a query parameter of this route" }]);
    expect((await refuse("GET", "/products/a%20b", {})).details).toEqual([{ path: "/id", message: 'id must be 1 to 64 letters, digits, _ or -, such as lamp-42, not "a b"' }]);
    expect((await refuse("PATCH", `/products/${P}`, { body: {} })).details).toEqual([{ path: "/", message: "the body must name at least one field to change" }]);
    expect((await refuse("POST", "/admin/replay", { body: { productIds: ["ok", "a b"] }, admin: true })).details).toEqual([
      { path: "/productIds/1", message: 'productIds[1] must be 1 to 64 letters, digits, _ or -, such as lamp-42, not "a b"' },
    ]);
  });

  test("the checks the routes make themselves answer in the same form: If-Match, ids, the body's id and version, an empty body", async () => {
    expect((await refuse("PATCH", `/products/${P}`, { body: { priceCents: 1 }, headers: { "if-match": "1" } })).details).toEqual([
      { path: "/if-match", message: 'If-Match must be a quoted version such as "3" (the ETag a read answered), or *; not "1"' },
    ]);
    expect((await refuse("GET", `/products?ids=${P},a%20b`, {})).details).toEqual([
      { path: "/ids", message: 'ids must be product ids (1 to 64 letters, digits, _ or -) separated by commas; not "a b"' },
    ]);
    expect((await refuse("PUT", `/products/${P}`, { body: { ...valid, id: "other" } })).details).toEqual([{ path: "/id", message: `id must be the path's id (${P}) or left out, not other` }]);
    expect((await refuse("PUT", `/products/${P}`, { body: { ...valid, version: 1 }, headers: { "if-match": '"2"' } })).details).toEqual([
      { path: "/version", message: 'version must agree with If-Match ("2") or be left out, not 1' },
    ]);
    expect(await refuse("POST", "/products", raw(""))).toEqual({
      status: 400,
      code: "VALIDATION_FAILED",
      message: "the body is required: a JSON object",
      details: [{ path: "/", message: "the body is required: a JSON object" }],
    });
  });

  test("every pattern the contract's requests hold is put in words, on every route of the document", async () => {
    const doc = (await h.call("GET", "/openapi/json")).body as {
      paths: Record<string, Record<string, { parameters?: { schema?: unknown }[]; requestBody?: { content?: Record<string, { schema?: { $ref?: string } }> } }>>;
      components: { schemas: Record<string, unknown> };
    };
    const patterns = new Map<string, Record<string, unknown>>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (node === null || typeof node !== "object") return;
      const o = node as Record<string, unknown>;
      if (typeof o.$ref === "string") return walk(doc.components.schemas[o.$ref.split("/").pop()!]);
      if (typeof o.pattern === "string") patterns.set(o.pattern, o);
      Object.values(o).forEach(walk);
    };
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        walk(op.parameters?.map((p) => p.schema));
        walk(op.requestBody?.content?.["application/json"]?.schema);
      }
    }
    expect(patterns.size).toBeGreaterThanOrEqual(6);
    const raw = [...patterns].map(([pattern, schema]) => ({ pattern, words: inWords(schema) })).filter(({ pattern, words }) => words.includes(pattern) || words.includes("matching"));
    expect(raw).toEqual([]);
    // One this file has no words for reads as its description.
    expect(inWords({ type: "string", pattern: "^([1-9][0-9]?|100)$", description: "1 to 100 (default 20)" })).toBe("1 to 100 (default 20)");
    expect(inWords({ type: "string", pattern: "^x+$" })).toBe("a string matching ^x+$");
  });

  test("the 415 names the media type it received", async () => {
    expect(await refuse("POST", "/products", raw(JSON.stringify(valid), "text/plain"))).toEqual({
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: 'the body must be JSON (Content-Type: application/json); it was sent as "text/plain"',
      details: { received: "text/plain" },
    });
    expect(await refuse("PUT", `/products/${P}`, { raw: JSON.stringify(valid) })).toEqual({
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
      message: "the body must be JSON (Content-Type: application/json); it was sent without a Content-Type",
      details: { received: null },
    });
  });
});
