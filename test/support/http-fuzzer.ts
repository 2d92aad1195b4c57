// An HTTP fuzzer driven by the api's own OpenAPI document: for each operation it generates
// requests from the documented schemas (fast-check), some valid and some broken on purpose (a
// missing or mistyped field, an out-of-range value, an unknown field, malformed or non-JSON
// bodies, bad ids in the path, bad If-Match headers, missing admin tokens). It holds the api to
// two rules: never a 5xx, and a 4xx changes nothing (no event, no outbox row, the targeted
// product's snapshot and cache entry untouched).
import fc from "fast-check";
import type { Harness } from "./harness.ts";
import { ADMIN_TOKEN } from "./harness.ts";

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
type FuzzRequest = { method: string; path: string; headers: Record<string, string>; raw?: string | Uint8Array; invalid: boolean; target?: string; why: string };

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

export function operationsOf(doc: { paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema: Schema }> }; parameters?: { name: string; in: string; required?: boolean; schema: Schema }[]; security?: unknown }>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (path.startsWith("/openapi")) continue;
    for (const [method, op] of Object.entries(methods)) {
      const body = op.requestBody?.content?.["application/json"]?.schema;
      ops.push({ method: method.toUpperCase(), path, body, admin: path.startsWith("/admin") });
    }
  }
  return ops;
}

export type FuzzReport = { requests: number; byStatus: Record<string, number>; invalid: number; serverErrors: string[]; changedOn4xx: string[]; acceptedInvalid: string[] };

export async function fuzzHttp(h: Harness, requests: number, seed = Date.now()): Promise<FuzzReport> {
  const doc = (await h.call("GET", "/openapi/json")).body;
  const pool = (await Promise.all(Array.from({ length: 15 }, () => h.create()))).map((p) => p.id);
  const ops = operationsOf(doc);
  const samples = fc.sample(fc.oneof(...ops.map((op) => requestsFor(op, pool))), { numRuns: requests, seed });
  const report: FuzzReport = { requests: 0, byStatus: {}, invalid: 0, serverErrors: [], changedOn4xx: [], acceptedInvalid: [] };

  const counts = async () => (await h.prisma.$queryRaw<{ e: bigint; o: bigint }[]>`SELECT (SELECT count(*) FROM events) AS e, (SELECT count(*) FROM outbox) AS o`)[0]!;
  // The targeted product's snapshot and cache entry. A read answered 4xx (a deleted or unknown
  // product) may still fill the cache with the current state: that is a projection of the truth,
  // not a change, so a cache entry that moved to exactly the snapshot's version (or to "no such
  // product" for an id without a snapshot) counts as unchanged.
  const targetState = async (id?: string) => {
    if (!id) return "";
    const snapshot = await h.prisma.productSnapshot.findUnique({ where: { id }, select: { version: true, deleted: true } });
    const cached = await h.redis.get(h.key(id));
    return JSON.stringify({ snapshot, cached });
  };
  const filledWithTruth = (before: string, after: string) => {
    if (!before || !after) return false;
    const a = JSON.parse(before) as { snapshot: { version: number } | null; cached: string | null };
    const b = JSON.parse(after) as { snapshot: { version: number } | null; cached: string | null };
    if (JSON.stringify(a.snapshot) !== JSON.stringify(b.snapshot)) return false;
    // An unknown id answered 404 may be cached as "no such product" (version 0).
    if (b.snapshot === null) return b.cached?.startsWith("0|n|") === true;
    return b.cached?.startsWith(`${b.snapshot.version}|`) === true;
  };

  for (const r of samples) {
    const before = await counts();
    const target = await targetState(r.target);
    const res = await h.call(r.method, r.path, { raw: r.raw, headers: r.headers });
    report.requests++;
    report.byStatus[res.status] = (report.byStatus[res.status] ?? 0) + 1;
    if (r.invalid) report.invalid++;
    const label = `${r.method} ${r.path.slice(0, 80)} [${r.why}] → ${res.status} ${res.text.slice(0, 120)}`;
    if (res.status >= 500) report.serverErrors.push(label);
    if (r.invalid && res.status < 400) report.acceptedInvalid.push(label);
    if (res.status >= 400 && res.status < 500) {
      const after = await counts();
      const targetAfter = await targetState(r.target);
      const targetChanged = targetAfter !== target && !(r.method === "GET" && filledWithTruth(target, targetAfter));
      if (after.e !== before.e || after.o !== before.o || targetChanged) report.changedOn4xx.push(label);
    }
  }
  return report;
}
