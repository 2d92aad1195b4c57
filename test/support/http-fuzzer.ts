// An HTTP fuzzer driven by the api's own OpenAPI document. Units of work come in classes:
// - "schema": requests generated from the documented schemas (fast-check), some valid and some
//   broken on purpose (a missing or mistyped field, an out-of-range value, an unknown field,
//   malformed or non-JSON bodies, bad ids in the path, bad If-Match headers, missing admin tokens);
// - the hostile classes of issue 9: nesting up to the body limit, lone surrogates and NUL in every
//   text field and in the URL, repeated, huge and many query parameters, long and odd headers
//   (some only a raw socket can send), a body on a GET (one that is itself a request), HTTP/1.1
//   pipelining, and bodies written slowly or abandoned half-way.
// It holds the api to its rules: never a 5xx; an invalid request refused; a connection never left
// hanging; and whatever was refused or never completed changes nothing (no event, no outbox row,
// the targeted products' snapshots and cache entries untouched).
import fc from "fast-check";
import type { Harness } from "./harness.ts";
import { ADMIN_TOKEN } from "./harness.ts";
import { exchange } from "./raw-http.ts";
import { serverLimits } from "../../src/app.ts";

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  anyOf?: Schema[];
  minProperties?: number;
};
type Operation = { method: string; path: string; body?: Schema; admin: boolean };
/**
 * One request. `invalid`: true when the contract must refuse it (4xx), false when it is valid,
 * "either" when both answers are acceptable (an odd but legal header, a body on a GET). `rawHead`
 * holds extra header lines written verbatim (socket only); `noLength` leaves Content-Length to them.
 * `check` is a semantic rule for the answer (a batch read names every id it was asked for).
 */
type FuzzRequest = {
  method: string;
  path: string;
  headers: Record<string, string>;
  raw?: string | Uint8Array;
  invalid: boolean | "either";
  target?: string;
  why: string;
  rawHead?: string;
  noLength?: boolean;
  check?: (status: number, text: string) => string | null;
};

const CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF"];

/** A generator of valid values for the subset of JSON Schema the api's schemas use. */
function valid(schema: Schema, pool: string[], key = ""): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((s) => valid(s, pool, key)));
  // OpenAPI 3.1 writes a nullable string as type: ["string", "null"]
  if (Array.isArray(schema.type)) return fc.oneof(...schema.type.map((type) => valid({ ...schema, type }, pool, key)));
  switch (schema.type) {
    case "object": {
      const props = schema.properties ?? {};
      const required = schema.required ?? [];
      const record = fc.record(Object.fromEntries(Object.entries(props).map(([k, s]) => [k, valid(s, pool, k)])), { requiredKeys: required });
      return schema.minProperties ? record.filter((o) => Object.keys(o).length >= schema.minProperties!) : record;
    }
    case "array":
      return fc.array(valid(schema.items!, pool, key), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) });
    case "integer":
      return fc.integer({ min: schema.minimum ?? 0, max: schema.maximum ?? 1_000_000 });
    case "null":
      return fc.constant(null);
    case "string": {
      if (key === "currency") return fc.constantFrom(...CURRENCIES);
      if (key === "id" || key === "productIds" || key === "jobId") return fc.oneof(fc.constantFrom(...pool), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/));
      if (key === "namespace") return fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/);
      const min = schema.minLength ?? 0;
      const max = Math.min(schema.maxLength ?? 40, 60);
      const text = fc.string({ minLength: min, maxLength: max, unit: "grapheme" });
      return schema.pattern ? text.filter((s) => new RegExp(schema.pattern!, "u").test(s) && s.length >= min && s.length <= (schema.maxLength ?? Infinity)) : text;
    }
    default:
      return fc.anything();
  }
}

/** One way to break a valid body, and a label saying which. */
function broken(schema: Schema, pool: string[]): fc.Arbitrary<{ body: unknown; why: string }> {
  const props = Object.entries(schema.properties ?? {});
  const base = valid(schema, pool) as fc.Arbitrary<Record<string, unknown>>;
  const options: fc.Arbitrary<{ body: unknown; why: string }>[] = [
    base.map((b) => ({ body: { ...b, ["x" + Math.random().toString(36).slice(2, 6)]: 1 }, why: "unknown field" })),
    fc.anything().filter((v) => v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))).map((v) => ({ body: v, why: "not an object" })),
  ];
  for (const [k, s] of props) {
    const takesString = s.type === "string" || (Array.isArray(s.type) && s.type.includes("string")) || !!s.anyOf?.some((x) => x.type === "string");
    const wrongType = fc.oneof(fc.boolean(), fc.object(), fc.array(fc.integer()), takesString ? fc.integer() : fc.string());
    options.push(fc.tuple(base, wrongType).map(([b, v]) => ({ body: { ...b, [k]: v }, why: `${k} of a wrong type` })));
    if (schema.required?.includes(k)) {
      options.push(base.map((b) => {
        const { [k]: _gone, ...rest } = b;
        return { body: rest, why: `no ${k}` };
      }));
    }
    if (s.type === "integer") {
      options.push(fc.tuple(base, fc.oneof(fc.integer({ max: (s.minimum ?? 0) - 1 }), fc.constant((s.maximum ?? 1e12) + 1), fc.double({ min: 0.1, max: 0.9 }))).map(([b, v]) => ({ body: { ...b, [k]: v }, why: `${k} out of range` })));
    }
    if (s.type === "string" && s.maxLength) {
      options.push(base.map((b) => ({ body: { ...b, [k]: "z".repeat(s.maxLength! + 1) }, why: `${k} too long` })));
    }
    const invalidValues: Record<string, string[]> = { id: ["", "é", "a b", "\u0000", "x".repeat(65)], currency: ["", "eur", "XYZ", "EURO"] };
    if (invalidValues[k]) {
      options.push(fc.tuple(base, fc.constantFrom(...invalidValues[k]!)).map(([b, v]) => ({ body: { ...b, [k]: v }, why: `${k} invalid` })));
    }
  }
  return fc.oneof(...options);
}

const badIds = ["%C3%A9t%C3%A9", "a%00b", "x".repeat(65), "%20", "a%2Fb", "%F0%9F%98%80"];
const badIfMatch = ["1", 'W/"1"', '"0"', '"abc"', '"1", "2"', "", '"99999999999999999"'];

function requestsFor(op: Operation, pool: string[]): fc.Arbitrary<FuzzRequest> {
  const pathId = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...pool).map((id) => ({ id, invalid: false })) },
    { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((id) => ({ id, invalid: false })) },
    { weight: 2, arbitrary: fc.constantFrom(...badIds).map((id) => ({ id, invalid: true })) },
  );
  const ifMatch = fc.oneof(
    { weight: 5, arbitrary: fc.constant(undefined as string | undefined).map((v) => ({ v, invalid: false })) },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => ({ v: `"${n}"`, invalid: false })) },
    { weight: 2, arbitrary: fc.constantFrom(...badIfMatch).map((v) => ({ v, invalid: true })) },
  );
  const auth = op.admin
    ? fc.oneof({ weight: 8, arbitrary: fc.constant({ h: `Bearer ${ADMIN_TOKEN}`, invalid: false }) }, { weight: 2, arbitrary: fc.constantFrom("", "Bearer wrong", ADMIN_TOKEN).map((h) => ({ h, invalid: true })) })
    : fc.constant({ h: "", invalid: false });
  const bodyArb: fc.Arbitrary<{ raw?: string | Uint8Array; type?: string; invalid: boolean; why: string }> = !op.body
    ? fc.constant({ invalid: false, why: "" })
    : fc.oneof(
        { weight: 5, arbitrary: valid(op.body, pool).map((b) => ({ raw: JSON.stringify(b), type: "application/json", invalid: false, why: "valid body" })) },
        { weight: 4, arbitrary: broken(op.body, pool).map(({ body, why }) => ({ raw: JSON.stringify(body) ?? "", type: "application/json", invalid: true, why })) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            { raw: "{", type: "application/json", why: "malformed JSON" },
            { raw: new Uint8Array([0x7b, 0xff, 0x7d]), type: "application/json", why: "invalid UTF-8" },
            { raw: "name=x", type: "application/x-www-form-urlencoded", why: "form body" },
            { raw: '{"name":"x"}', type: "text/plain", why: "text/plain body" },
            { raw: `{"name":"${"x".repeat(70_000)}"}`, type: "application/json", why: "oversized body" },
          ).map((b) => ({ ...b, invalid: true })),
        },
      );
  return fc.record({ id: pathId, ifMatch, auth, body: bodyArb, minVersion: fc.option(fc.oneof(fc.integer({ min: 1, max: 20 }).map(String), fc.constantFrom("0", "-1", "x", "1.5")), { nil: undefined }), batch: fc.array(fc.oneof(fc.constantFrom(...pool), fc.constantFrom(...badIds)), { minLength: 0, maxLength: 4 }) }).map(
    (g) => {
      const usesId = op.path.includes("{id}");
      const usesJob = op.path.includes("{jobId}");
      let path = op.path.replace("{id}", g.id.id).replace("{jobId}", usesJob ? g.id.id : "");
      let invalid = (usesId && g.id.invalid) || g.auth.invalid || g.body.invalid;
      const why: string[] = [g.body.why];
      if (op.path === "/products/{id}" && op.method === "GET" && g.minVersion !== undefined) {
        path += `?minVersion=${g.minVersion}`;
        if (!/^[1-9][0-9]*$/.test(g.minVersion)) invalid = true;
      }
      if (op.path === "/products" && op.method === "GET") {
        path += `?ids=${g.batch.join(",")}`;
        if (g.batch.length === 0 || g.batch.some((b) => badIds.includes(b))) invalid = true;
      }
      const headers: Record<string, string> = {};
      if (g.body.type) headers["content-type"] = g.body.type;
      if (g.auth.h) headers.authorization = g.auth.h;
      if (["PUT", "PATCH", "DELETE"].includes(op.method) && g.ifMatch.v !== undefined) {
        headers["if-match"] = g.ifMatch.v;
        if (g.ifMatch.invalid) invalid = true;
      }
      return { method: op.method, path, headers, raw: g.body.raw, invalid, target: usesId && !g.id.invalid ? g.id.id : undefined, why: why.join(" ") };
    },
  );
}

export function operationsOf(doc: {
  paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema: Schema & { $ref?: string } }> }; parameters?: { name: string; in: string; required?: boolean; schema: Schema }[]; security?: unknown }>>;
  components?: { schemas?: Record<string, Schema> };
}): Operation[] {
  const ops: Operation[] = [];
  // A body the document names as a component ("#/components/schemas/ProductCreate") is that component.
  const resolve = (s: (Schema & { $ref?: string }) | undefined) => (s?.$ref ? doc.components?.schemas?.[s.$ref.split("/").pop()!] : s);
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (path.startsWith("/openapi")) continue;
    for (const [method, op] of Object.entries(methods)) {
      const body = resolve(op.requestBody?.content?.["application/json"]?.schema);
      // Behind the admin guard: an operation that names its security (the console's page, login and logout are open).
      ops.push({ method: method.toUpperCase(), path, body, admin: path.startsWith("/admin") && op.security !== undefined });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Hostile classes (issue 9). Each unit is one connection's worth of requests and how they travel:
// "app" through app.handle in-process, "socket" as bytes on a real connection, "pipeline" several
// requests in one write, "slow" a body written in pieces with pauses, "abandon" a body that stops
// half-way and a client that hangs up.
type Wire = "app" | "socket" | "pipeline" | "slow" | "abandon";
type Unit = { cls: string; wire: Wire; requests: FuzzRequest[]; delays?: number[]; cut?: number };

const BODY_LIMIT = 64 * 1024;
const BAD_TEXT = ["\ud800", "x\udfffy", "\udc00\ud800", "\u0000", "a\u0000b", "😀\ud83d"];

const withBody = (op: Operation) => !!op.body;
const baseHeaders = (op: Operation): Record<string, string> => (op.admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : {});
const concretePath = (op: Operation, id: string) => op.path.replace("{id}", id).replace("{jobId}", id);

/** The properties of a body that hold text: strings, and arrays of strings. */
function textKeys(schema: Schema): { key: string; array: boolean }[] {
  const takesString = (s: Schema) => s.type === "string" || (Array.isArray(s.type) && s.type.includes("string")) || !!s.anyOf?.some((x) => x.type === "string");
  return Object.entries(schema.properties ?? {}).flatMap(([key, s]): { key: string; array: boolean }[] =>
    takesString(s) ? [{ key, array: false }] : s.type === "array" && s.items && takesString(s.items) ? [{ key, array: true }] : [],
  );
}

/** Nesting of `depth` levels, as arrays, objects or both, cut to fit in `room` bytes. */
function nested(kind: "arrays" | "objects" | "mixed", depth: number, room: number): string {
  const open = kind === "arrays" ? "[" : kind === "objects" ? '{"a":' : '[{"a":';
  const close = kind === "arrays" ? "]" : kind === "objects" ? "}" : "}]";
  const d = Math.max(1, Math.min(depth, Math.floor((room - 1) / (open.length + close.length))));
  return `${open.repeat(d)}1${close.repeat(d)}`;
}

function deepUnits(ops: Operation[], pool: string[]): fc.Arbitrary<Unit> {
  const bodyOps = ops.filter(withBody);
  return fc
    .record({
      op: fc.constantFrom(...bodyOps),
      id: fc.constantFrom(...pool),
      kind: fc.constantFrom("arrays" as const, "objects" as const, "mixed" as const),
      depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 40_000 })),
      place: fc.constantFrom("body", "field", "unknown key"),
      pick: fc.nat(),
    })
    .chain((g) => valid(g.op.body!, pool).map((base) => ({ ...g, base: base as Record<string, unknown> })))
    .map((g) => {
      const keys = Object.keys(g.op.body!.properties ?? {});
      const key = g.place === "unknown key" ? "zz" : keys[g.pick % keys.length]!;
      let raw: string;
      if (g.place === "body") raw = nested(g.kind, g.depth, BODY_LIMIT);
      else {
        const shell = JSON.stringify({ ...g.base, [key]: "\u0001DEEP\u0001" });
        raw = shell.replace('"\\u0001DEEP\\u0001"', nested(g.kind, g.depth, BODY_LIMIT - Buffer.byteLength(shell)));
      }
      const request: FuzzRequest = {
        method: g.op.method,
        path: concretePath(g.op, g.id),
        headers: { ...baseHeaders(g.op), "content-type": "application/json" },
        raw,
        invalid: true, // nesting where the contract has a scalar, a flat array, or no field at all
        target: g.op.path.includes("{id}") ? g.id : undefined,
        why: `${g.kind} nested ${g.depth} deep in ${g.place === "body" ? "the body" : key}`,
      };
      return { cls: "deep nesting", wire: "app" as const, requests: [request] };
    });
}

function textUnits(ops: Operation[], pool: string[]): fc.Arbitrary<Unit> {
  const bodyOps = ops.filter((op) => op.body && textKeys(op.body).length > 0);
  const inBody = fc
    .record({ op: fc.constantFrom(...bodyOps), id: fc.constantFrom(...pool), bad: fc.constantFrom(...BAD_TEXT), pick: fc.nat(), asKey: fc.boolean() })
    .chain((g) => valid(g.op.body!, pool).map((base) => ({ ...g, base: base as Record<string, unknown> })))
    .map((g) => {
      const keys = textKeys(g.op.body!);
      const { key, array } = keys[g.pick % keys.length]!;
      const body = g.asKey ? { ...g.base, [`k${g.bad}`]: "x" } : { ...g.base, [key]: array ? ["ok", `${g.bad}`] : `name ${g.bad}` };
      return {
        method: g.op.method,
        path: concretePath(g.op, g.id),
        headers: { ...baseHeaders(g.op), "content-type": "application/json" },
        raw: JSON.stringify(body), // JSON.stringify writes a lone surrogate as a \\u escape
        invalid: true,
        target: g.op.path.includes("{id}") ? g.id : undefined,
        why: g.asKey ? `a key with ${JSON.stringify(g.bad)}` : `${key} with ${JSON.stringify(g.bad)}`,
      } satisfies FuzzRequest;
    });
  // The same texts where they reach the api through the URL: percent-encoded NUL, a surrogate's
  // UTF-8 form (not valid UTF-8), a bad escape.
  const urlBad = ["%00", "a%00", "%ED%A0%80", "%ED%B0%80x", "%zz", "%", "%C0%80"];
  const inUrl = fc.record({ bad: fc.constantFrom(...urlBad), id: fc.constantFrom(...pool), where: fc.constantFrom("path", "ids", "minVersion") }).map(({ bad, id, where }) => {
    const path = where === "path" ? `/products/${bad}` : where === "ids" ? `/products?ids=${id},${bad}` : `/products/${id}?minVersion=${bad}`;
    return { method: "GET", path, headers: {}, invalid: true, target: where === "minVersion" ? id : undefined, why: `${bad} in the ${where}` } satisfies FuzzRequest;
  });
  return fc.oneof(inBody, inUrl).map((r) => ({ cls: "surrogates and NUL", wire: "app" as const, requests: [r] }));
}

function queryUnits(pool: string[]): fc.Arbitrary<Unit> {
  const namesEvery = (ids: string[]) => (status: number, text: string) => {
    if (status !== 200) return `a batch read of valid ids answered ${status}`;
    const body = JSON.parse(text) as { items: { id: string }[]; missing: string[] };
    const named = new Set([...body.items.map((p) => p.id), ...body.missing]);
    const dropped = [...new Set(ids)].filter((id) => !named.has(id));
    return dropped.length ? `ids dropped silently: ${dropped.join(",")}` : null;
  };
  const unknownId = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
  const id = fc.oneof(fc.constantFrom(...pool), unknownId);
  const repeated = fc.array(fc.array(id, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 6 }).map((groups) => {
    const ids = groups.flat();
    return {
      method: "GET",
      path: `/products?${groups.map((g) => `ids=${g.join(",")}`).join("&")}`,
      headers: {},
      invalid: ids.length > 100,
      why: `ids given ${groups.length} times`,
      check: ids.length > 100 ? undefined : namesEvery(ids),
    } satisfies FuzzRequest;
  });
  const huge = fc.constantFrom(200, 5_000, 14_000, 60_000).map((n) => ({ method: "GET", path: `/products?ids=${"a".repeat(n)}`, headers: {}, invalid: true, why: `an id of ${n} characters` }) satisfies FuzzRequest);
  const many = fc.record({ n: fc.integer({ min: 2, max: 3000 }), id: fc.constantFrom(...pool), onBatch: fc.boolean() }).map(({ n, id, onBatch }) => {
    const extra = Array.from({ length: n }, (_, i) => `p${i}=${i}`).join("&");
    return { method: "GET", path: onBatch ? `/products?ids=${id}&${extra}` : `/products/${id}?${extra}`, headers: {}, invalid: true, target: id, why: `${n} unknown query parameters` } satisfies FuzzRequest;
  });
  const minVersionTwice = fc.constantFrom(...pool).map((id) => ({ method: "GET", path: `/products/${id}?minVersion=1&minVersion=2`, headers: {}, invalid: true, target: id, why: "minVersion twice" }) satisfies FuzzRequest);
  return fc.oneof(repeated, huge, many, minVersionTwice).map((r) => ({ cls: "query parameters", wire: "app" as const, requests: [r] }));
}

const combine = (a: FuzzRequest["invalid"], b: FuzzRequest["invalid"]): FuzzRequest["invalid"] => (a === true || b === true ? true : a === "either" || b === "either" ? "either" : false);

function headerUnits(base: fc.Arbitrary<FuzzRequest>): fc.Arbitrary<Unit> {
  type Twist = { apply: (r: FuzzRequest) => Partial<FuzzRequest>; invalid: FuzzRequest["invalid"]; why: string; socket?: boolean };
  const twists: Twist[] = [
    ...[100, 4_000, 12_000].map((n) => ({ apply: (r: FuzzRequest) => ({ headers: { ...r.headers, "x-pad": "p".repeat(n) } }), invalid: false as const, why: `a ${n}-byte header` })),
    { apply: (r) => ({ headers: { ...r.headers, "x-pad": "p".repeat(40_000) } }), invalid: true, why: "a 40,000-byte header", socket: true }, // Bun's header limit is on the socket
    { apply: (r) => ({ headers: { ...r.headers, ...Object.fromEntries(Array.from({ length: 90 }, (_, i) => [`x-h${i}`, String(i)])) } }), invalid: false, why: "90 extra headers" },
    { apply: (r) => ({ headers: { ...r.headers, "if-match": `"${"1".repeat(8000)}"` } }), invalid: "either", why: "an If-Match of 8,000 digits" }, // ignored on a POST or GET
    { apply: (r) => ({ headers: { ...r.headers, "if-none-match": `"1", ${'"2", '.repeat(1000)}"3"` } }), invalid: false, why: "an If-None-Match of 1,000 tags" },
    { apply: (r) => ({ headers: { ...r.headers, authorization: `Bearer ${"t".repeat(8000)}` } }), invalid: "either", why: "an 8,000-byte token" },
    { apply: (r) => ({ headers: { ...r.headers, "content-type": "application/json; charset=utf-8" } }), invalid: false, why: "a charset parameter" },
    { apply: (r) => ({ headers: { ...r.headers, "content-type": "application/json, text/plain" } }), invalid: "either", why: "two media types" },
    { apply: (r) => ({ headers: { ...r.headers, "content-type": "multipart/form-data; boundary=x" } }), invalid: "either", why: "multipart" },
    { apply: (r) => ({ headers: { ...r.headers, "content-type": "application/jsonx" } }), invalid: "either", why: "application/jsonx" },
    // On the wire only: bytes fetch would refuse to send.
    { apply: () => ({ rawHead: "X-Odd: caf\u00e9 \u00ff\u00fe" }), invalid: "either", why: "obs-text bytes in a value", socket: true },
    { apply: () => ({ rawHead: "X-Nul: a\u0000b" }), invalid: true, why: "NUL in a header value", socket: true },
    { apply: () => ({ rawHead: "Bad Name: 1" }), invalid: true, why: "a space in a header name", socket: true },
    { apply: () => ({ rawHead: "X-Fold: a\r\n b" }), invalid: true, why: "an obsolete line folding", socket: true },
    { apply: (r) => ({ rawHead: `Content-Length: ${byteLength(r.raw)}\r\nContent-Length: ${byteLength(r.raw) + 1}`, noLength: true }), invalid: true, why: "two different Content-Lengths", socket: true },
    { apply: (r) => ({ rawHead: `Content-Length: ${byteLength(r.raw)}\r\nTransfer-Encoding: chunked`, noLength: true }), invalid: true, why: "Content-Length and Transfer-Encoding", socket: true },
    { apply: () => ({ rawHead: "Transfer-Encoding: gzip, chunked" }), invalid: "either", why: "a Transfer-Encoding the api does not speak", socket: true },
  ];
  return fc.tuple(base, fc.constantFrom(...twists)).map(([r, t]) => {
    const twisted: FuzzRequest = { ...r, ...t.apply(r), invalid: combine(r.invalid, t.invalid), why: `${r.why} + ${t.why}` };
    return { cls: "long and odd headers", wire: t.socket ? ("socket" as const) : ("app" as const), requests: [twisted] };
  });
}

function getBodyUnits(pool: string[]): fc.Arbitrary<Unit> {
  return fc
    .record({
      id: fc.constantFrom(...pool),
      path: fc.constantFrom("/products/{id}", "/products?ids={id}", "/products/{id}/events", "/healthz"),
      smuggle: fc.boolean(),
      n: fc.nat(),
    })
    .map(({ id, path, smuggle, n }) => {
      // A body that is itself a create: if the api took it for the next request, an event appears.
      const create = JSON.stringify({ id: `smuggled-${n}`, name: "smuggled", priceCents: 1, currency: "EUR" });
      const body = smuggle ? `POST /products HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: ${create.length}\r\n\r\n${create}` : '{"name":"x"}';
      const r: FuzzRequest = { method: "GET", path: path.replace("{id}", id), headers: { "content-type": "application/json" }, raw: body, invalid: "either", target: id, why: smuggle ? "a GET whose body is a create" : "a GET with a JSON body" };
      return { cls: "body on GET", wire: "socket" as const, requests: [r] };
    });
}

function pipelineUnits(base: fc.Arbitrary<FuzzRequest>): fc.Arbitrary<Unit> {
  return fc.array(base, { minLength: 2, maxLength: 5 }).map((requests) => ({ cls: "pipelining", wire: "pipeline" as const, requests }));
}

function slowUnits(bodyBase: fc.Arbitrary<FuzzRequest>): fc.Arbitrary<Unit> {
  return fc
    .record({ r: bodyBase, delays: fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 2, maxLength: 5 }), stop: fc.boolean(), cutAt: fc.double({ min: 0, max: 0.95, noNaN: true }) })
    .map(({ r, delays, stop, cutAt }) =>
      stop
        ? { cls: "slow bodies", wire: "abandon" as const, requests: [{ ...r, why: `${r.why}, stopped at ${Math.round(cutAt * 100)} % of the body` }], delays, cut: cutAt }
        : { cls: "slow bodies", wire: "slow" as const, requests: [{ ...r, why: `${r.why}, in ${delays.length} slow pieces` }], delays },
    );
}

function byteLength(raw: FuzzRequest["raw"]): number {
  return raw === undefined ? 0 : typeof raw === "string" ? Buffer.byteLength(raw) : raw.length;
}

function bytesOf(r: FuzzRequest): { head: Buffer; body: Buffer } {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, "Host: fuzz", ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)];
  if (r.raw !== undefined && !r.noLength) lines.push(`Content-Length: ${byteLength(r.raw)}`);
  if (r.rawHead) lines.push(r.rawHead);
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  const body = r.raw === undefined ? Buffer.alloc(0) : typeof r.raw === "string" ? Buffer.from(r.raw, "utf8") : Buffer.from(r.raw);
  return { head, body };
}

export function unitsFor(ops: Operation[], pool: string[]): fc.Arbitrary<Unit> {
  const schema = fc.oneof(...ops.map((op) => requestsFor(op, pool)));
  const schemaWithBody = fc.oneof(...ops.filter(withBody).map((op) => requestsFor(op, pool))).filter((r) => r.raw !== undefined && byteLength(r.raw) > 8 && byteLength(r.raw) < BODY_LIMIT);
  return fc.oneof(
    { weight: 50, arbitrary: schema.map((r) => ({ cls: "schema", wire: "app" as const, requests: [r] })) },
    { weight: 8, arbitrary: deepUnits(ops, pool) },
    { weight: 8, arbitrary: textUnits(ops, pool) },
    { weight: 8, arbitrary: queryUnits(pool) },
    { weight: 8, arbitrary: headerUnits(schema) },
    { weight: 5, arbitrary: getBodyUnits(pool) },
    { weight: 7, arbitrary: pipelineUnits(schema) },
    { weight: 6, arbitrary: slowUnits(schemaWithBody) },
  );
}

type ClassStats = { units: number; requests: number; byStatus: Record<string, number>; refusedMs: number[]; unanswered: number };
export type FuzzReport = {
  units: number;
  requests: number;
  byStatus: Record<string, number>;
  invalid: number;
  byClass: Record<string, ClassStats>;
  serverErrors: string[];
  changedOn4xx: string[];
  acceptedInvalid: string[];
  /** A semantic rule broken (a batch read that dropped an id), or a connection that hung or was dropped. */
  broken: string[];
  /** Pipelined requests the server closed the connection on without answering (see README). */
  pipelineUnanswered: number;
};

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await Bun.sleep(1);
  }
  return true;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Runs `units` generated units against the harness's app, in-process and on a real socket. */
export async function fuzzHttp(h: Harness, units: number, seed = Date.now()): Promise<FuzzReport> {
  const doc = (await h.call("GET", "/openapi/json")).body;
  const pool = (await Promise.all(Array.from({ length: 15 }, () => h.create()))).map((p) => p.id);
  const samples = fc.sample(unitsFor(operationsOf(doc), pool), { numRuns: units, seed });
  // The app on a real socket, as main.ts serves it; `running` counts handlers until they return,
  // also those whose connection is gone (Bun's pendingRequests stops counting those).
  let running = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...serverLimits(BODY_LIMIT),
    async fetch(request) {
      running++;
      try {
        return await h.app.handle(request);
      } finally {
        running--;
      }
    },
  });
  const port = server.port!;
  const report: FuzzReport = { units: 0, requests: 0, byStatus: {}, invalid: 0, byClass: {}, serverErrors: [], changedOn4xx: [], acceptedInvalid: [], broken: [], pipelineUnanswered: 0 };

  const counts = async () => (await h.prisma.$queryRaw<{ e: bigint; o: bigint }[]>`SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM outbox) AS o`)[0]!;
  // The targeted products' snapshots and cache entries. A read may fill the cache with the current
  // state (even a read answered 404, for a deleted or unknown product): that is a projection of the
  // truth, not a change, so an entry that moved to exactly the snapshot's version (or to "no such
  // product" for an id without a snapshot) counts as unchanged.
  const targetState = async (id: string) => {
    const snapshot = await h.prisma.productSnapshot.findUnique({ where: { id }, select: { version: true, deleted: true } });
    const cached = await h.redis.get(h.key(id));
    return JSON.stringify({ snapshot, cached });
  };
  const filledWithTruth = (before: string, after: string) => {
    const a = JSON.parse(before) as { snapshot: { version: number } | null; cached: string | null };
    const b = JSON.parse(after) as { snapshot: { version: number } | null; cached: string | null };
    if (JSON.stringify(a.snapshot) !== JSON.stringify(b.snapshot)) return false;
    if (b.snapshot === null) return b.cached?.startsWith("0|n|") === true;
    return b.cached?.startsWith(`${b.snapshot.version}|`) === true;
  };

  async function send(unit: Unit): Promise<{ answers: ({ status: number; text: string; ms: number } | null)[]; closed: boolean; timedOut: boolean }> {
    if (unit.wire === "app") {
      const r = unit.requests[0]!;
      const t0 = performance.now();
      const res = await h.call(r.method, r.path, { raw: r.raw, headers: r.headers });
      return { answers: [{ status: res.status, text: res.text, ms: performance.now() - t0 }], closed: false, timedOut: false };
    }
    const parts = unit.requests.map(bytesOf);
    let chunks: { bytes: Uint8Array; delayMs?: number }[];
    if (unit.wire === "socket" || unit.wire === "pipeline") chunks = [{ bytes: Buffer.concat(parts.flatMap((p) => [p.head, p.body])) }];
    else {
      // The head, then the body in pieces with a pause before each; "abandon" stops at `cut`.
      const { head, body } = parts[0]!;
      const end = unit.wire === "abandon" ? Math.floor(body.length * unit.cut!) : body.length;
      const d = unit.delays!;
      const step = Math.max(1, Math.ceil(end / d.length));
      chunks = [{ bytes: head }];
      for (let i = 0, at = 0; at < end; i++, at += step) chunks.push({ bytes: body.subarray(at, Math.min(end, at + step)), delayMs: d[i % d.length] });
      if (unit.wire === "abandon") chunks.push({ bytes: new Uint8Array(0), delayMs: 20 }); // give the server a moment to (wrongly) act
    }
    const ex = await exchange(port, chunks, { expect: unit.wire === "abandon" ? 0 : unit.requests.length, abandon: unit.wire === "abandon", timeoutMs: 5000 });
    // A request on a connection that closed (a pipelined one, say) may still be running its
    // handler; it must be done before the next unit's "nothing changed" is measured.
    const settled = await until(() => running === 0, 10_000);
    if (!settled) report.broken.push(`[${unit.cls}/${unit.wire}] ${unit.requests[0]!.method} ${unit.requests[0]!.path.slice(0, 80)}: a handler still running 10 s after its connection ended`);
    return {
      answers: unit.requests.map((_, i) => (ex.responses[i] ? { status: ex.responses[i]!.status, text: ex.responses[i]!.body, ms: ex.responses[i]!.ms } : null)),
      closed: ex.closed,
      timedOut: ex.timedOut,
    };
  }

  let previous = "nothing";
  try {
    for (const unit of samples) {
      const targets = [...new Set(unit.requests.map((r) => r.target).filter((t): t is string => !!t))];
      const before = await counts();
      const targetsBefore = await Promise.all(targets.map(targetState));
      const { answers, timedOut } = await send(unit);

      const stats = (report.byClass[unit.cls] ??= { units: 0, requests: 0, byStatus: {}, refusedMs: [], unanswered: 0 });
      stats.units++;
      report.units++;
      const label = (r: FuzzRequest, a: { status: number; text: string } | null) =>
        `[${unit.cls}/${unit.wire}] ${r.method} ${r.path.slice(0, 80)} [${r.why.slice(0, 120)}] → ${a ? `${a.status} ${a.text.slice(0, 120)}` : "no answer"}`;
      if (timedOut) report.broken.push(`${label(unit.requests[0]!, null)}: neither an answer nor a close within 5 s`);
      let mayChange = false;
      unit.requests.forEach((r, i) => {
        const a = answers[i] ?? null;
        stats.requests++;
        report.requests++;
        if (r.invalid === true) report.invalid++;
        // A write that was (or may have been) carried out; an abandoned body is never carried out.
        if (r.method !== "GET" && r.invalid !== true && unit.wire !== "abandon" && (a === null || a.status < 400)) mayChange = true;
        if (!a) {
          if (unit.wire === "pipeline") {
            stats.unanswered++;
            report.pipelineUnanswered++;
          } else if (unit.wire !== "abandon" && !timedOut) report.broken.push(`${label(r, a)}: the connection closed without an answer`);
          return;
        }
        const key = String(a.status);
        stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
        report.byStatus[key] = (report.byStatus[key] ?? 0) + 1;
        if (a.status >= 400 && a.status < 500) stats.refusedMs.push(a.ms);
        if (a.status >= 500) report.serverErrors.push(label(r, a));
        if (r.invalid === true && a.status < 400) report.acceptedInvalid.push(label(r, a));
        const wrong = r.check?.(a.status, a.text);
        if (wrong) report.broken.push(`${label(r, a)}: ${wrong}`);
      });
      const describe = `${unit.cls}/${unit.wire}: ${unit.requests.map((r, i) => `${r.method} ${r.path.slice(0, 60)} → ${answers[i]?.status ?? "none"}`).join(", ")}`;
      if (!mayChange) {
        const after = await counts();
        const targetsAfter = await Promise.all(targets.map(targetState));
        const moved = targets.filter((_, i) => targetsAfter[i] !== targetsBefore[i] && !filledWithTruth(targetsBefore[i]!, targetsAfter[i]!));
        if (after.e !== before.e || after.o !== before.o || moved.length > 0) {
          report.changedOn4xx.push(`${unit.requests.map((r, i) => label(r, answers[i] ?? null)).join(" ; ")}: events ${before.e}→${after.e}, outbox ${before.o}→${after.o}, moved ${moved.join(",")} (after ${previous})`);
        }
      }
      previous = describe;
    }
  } finally {
    await server.stop(true);
  }
  for (const s of Object.values(report.byClass)) s.refusedMs.sort((a, b) => a - b);
  return report;
}
