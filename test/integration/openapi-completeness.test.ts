// The OpenAPI document is complete (issue 14, item 5), checked from the document itself, so a route
// added later is held to it without a line here:
// - every route the app serves is an operation of the document, and the reverse;
// - every operation lists the answers any operation of its kind can give (500 INTERNAL; 400
//   VALIDATION_FAILED with parameters or a body; 400 MALFORMED_JSON, 413 and 415 with a JSON body;
//   401 when it is secured; 503 UNAVAILABLE unless it is one of the few that do no I/O through
//   PostgreSQL, below);
// - every operation is driven with requests built from its own description (valid reads with
//   PostgreSQL up, down and broken; a bad path parameter, an unknown query parameter, no token, a
//   bad If-Match; malformed, mistyped, oversized and misshapen bodies), and each status and code it
//   answers must be one its operation lists. Writes are driven only with requests the api refuses
//   (a valid one could start a full replay, or change what other tests read); the write paths'
//   faults are driven by openapi-contract.test.ts's cases.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ERROR_CODES, statusOf, type ErrorCode } from "../../src/catalog/errors.ts";
import { faultSwitch, type Fault } from "../support/faulty-store.ts";
import { createHarness } from "../support/harness.ts";

const faults = faultSwitch(); // the event store's faults, per request (test/support/faulty-store.ts)
const h = createHarness("complete", { wrapStore: faults.wrap });
afterAll(() => h.close());

type Schema = { type?: string | string[]; pattern?: string; minLength?: number; maxLength?: number; minimum?: number; enum?: unknown[] };
type Parameter = { name: string; in: string; required?: boolean; schema?: Schema };
type Response = { content?: Record<string, { schema?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } } }> };
type Operation = { operationId?: string; parameters?: Parameter[]; requestBody?: { content?: Record<string, unknown> }; security?: unknown[]; responses: Record<string, Response> };
type Doc = { paths: Record<string, Record<string, Operation>> };
type Op = { key: string; method: string; path: string; op: Operation };

let doc: Doc;
let ops: Op[] = [];
let P = ""; // an existing product
let JOB = ""; // an existing replay job

beforeAll(async () => {
  doc = (await h.call("GET", "/openapi/json")).body;
  ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, method: m.toUpperCase(), path, op })),
  );
  P = (await h.create()).id;
  const started = await h.call("POST", "/admin/replay", { body: { productIds: [P] }, admin: true });
  JOB = started.body?.jobId ?? "";
});

/** The codes a response restricts `error.code` to; null for a response that is not an error body. */
const codesOf = (r: Response | undefined): string[] | null => r?.content?.["application/json"]?.schema?.properties?.error?.properties?.code?.enum ?? null;
const lists = (op: Operation, code: ErrorCode) => codesOf(op.responses[String(statusOf(code))])?.includes(code) ?? false;
const hasJsonBody = (op: Operation) => !!op.requestBody?.content?.["application/json"];
const secured = (op: Operation) => (op.security ?? []).length > 0;

/**
 * Operations that do no I/O through PostgreSQL (nor, for an admin route, Redis), so cannot answer
 * 503 UNAVAILABLE, and why. Every other operation, today's or a later one, must list it.
 */
const NO_POSTGRES: Record<string, string> = {
  "GET /healthz": "liveness: no I/O",
  "GET /metrics": "the process's own counters",
  "GET /admin/console": "renders the page: no I/O",
  "POST /admin/session": "checks the token and signs a cookie: no I/O",
  "POST /admin/session/logout": "drops the cookie: no I/O",
};

/** What every operation of its kind can answer and so must list. */
function requiredAnswers(op: Operation, key: string): ErrorCode[] {
  const codes: ErrorCode[] = ["INTERNAL"];
  if ((op.parameters ?? []).length > 0 || op.requestBody) codes.push("VALIDATION_FAILED");
  if (hasJsonBody(op)) codes.push("MALFORMED_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE");
  if (secured(op)) codes.push("UNAUTHORIZED");
  if (!(key in NO_POSTGRES) && !op.responses["503"]) codes.push("UNAVAILABLE"); // a 503 of its own body (readyz) counts
  return codes;
}

/**
 * A value a parameter takes: a known id where it names one (or, `fresh`, an id never written or
 * cached, so that a read reaches PostgreSQL and a write finds nothing), else the first candidate its
 * schema allows.
 */
function sample(p: Parameter, fresh = false): string {
  if (p.name === "id" || p.name === "ids" || p.name === "productId") return fresh ? h.id("ghost") : P;
  if (p.name === "jobId") return JOB;
  const s = p.schema ?? {};
  if (s.enum?.length) return String(s.enum[0]);
  if (s.type === "integer" || s.type === "number") return String(Math.max(1, s.minimum ?? 1));
  const fits = (v: string) => (!s.pattern || new RegExp(s.pattern, "u").test(v)) && v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity);
  const found = [P, "1", "x", "catalog"].find(fits);
  return found ?? fc.sample(fc.stringMatching(new RegExp(s.pattern ?? ".+")).filter(fits), { numRuns: 1, seed: 1 })[0]!;
}

type Init = NonNullable<Parameters<typeof h.call>[2]>;
type Drive = { why: string; path: string; init: Init; fault?: Fault };

/** The requests built for one operation from its description. */
function drivesFor({ method, path, op }: Op): Drive[] {
  const params = op.parameters ?? [];
  const url = (o: { extra?: string[]; bad?: string; fresh?: boolean } = {}) => {
    const filled = path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === o.bad ? "a%01b" : encodeURIComponent(sample(params.find((p) => p.name === name) ?? { name, in: "path" }, o.fresh))));
    const query = [...params.filter((p) => p.in === "query" && p.required).map((p) => `${p.name}=${encodeURIComponent(sample(p, o.fresh))}`), ...(o.extra ?? [])];
    return query.length ? `${filled}?${query.join("&")}` : filled;
  };
  const admin = secured(op);
  // Where a route takes a body, the requests about something else send an empty JSON object, so that
  // they reach the check they are about rather than the media type's.
  const body = hasJsonBody(op) ? { raw: "{}", headers: { "content-type": "application/json" } } : {};
  const drives: Drive[] = [];
  if (method === "GET") {
    drives.push({ why: "a valid read", path: url(), init: { admin } });
    for (const f of ["down", "broken"] as const) drives.push({ why: `a read that reaches PostgreSQL, ${f}`, path: url({ fresh: true }), init: { admin }, fault: f });
  }
  // A write is aimed at an id never written, so that a request let through by mistake changes nothing
  // another test reads; one without a path parameter gets no request that a route could carry out.
  const write = method !== "GET" && method !== "HEAD";
  const aimed = write && params.some((p) => p.in === "path");
  for (const p of params.filter((p) => p.in === "path")) drives.push({ why: `a bad ${p.name}`, path: url({ bad: p.name, fresh: write }), init: { admin, ...body } });
  if (params.some((p) => p.in === "query") && (!write || aimed)) drives.push({ why: "an unknown query parameter", path: url({ extra: ["zzUnknown=1"], fresh: write }), init: { admin, ...body } });
  if (admin) drives.push({ why: "no token", path: url({ fresh: write }), init: { ...body } });
  if (params.some((p) => p.in === "header" && p.name.toLowerCase() === "if-match") && (!write || aimed)) {
    drives.push({ why: "a bad If-Match", path: url({ fresh: write }), init: { admin, ...body, headers: { ...body.headers, "if-match": "1" } } });
  }
  if (hasJsonBody(op)) {
    const raw = (text: string, type = "application/json") => ({ admin, raw: text, headers: { "content-type": type } });
    const at = url({ fresh: true });
    drives.push(
      { why: "malformed JSON", path: at, init: raw("{") },
      { why: "a text/plain body", path: at, init: raw("{}", "text/plain") },
      { why: "a body over the limit", path: at, init: raw(JSON.stringify({ x: "x".repeat(70_000) })) },
      { why: "an array for a body", path: at, init: raw("[1]") },
      { why: "an unknown field", path: at, init: raw('{"zzUnknown":1}') },
    );
  } else if (method !== "GET" && method !== "HEAD" && params.some((p) => p.in === "path")) {
    // On something that does not exist (a write without a body and without a target would be carried out).
    drives.push({ why: "a malformed JSON body it does not take", path: url({ fresh: true }), init: { admin, raw: "{", headers: { "content-type": "application/json" } } });
  }
  return drives;
}

type Seen = { key: string; why: string; status: number; code: string | null };

/** Each answer its operation does not list, as a line. */
function unlisted(document: Doc, answers: Seen[]): string[] {
  const out = new Set<string>();
  for (const a of answers) {
    const [method, path] = a.key.split(" ") as [string, string];
    const response = document.paths[path]?.[method.toLowerCase()]?.responses[String(a.status)];
    const codes = codesOf(response);
    const ok = response !== undefined && (codes ? a.code !== null && codes.includes(a.code) : a.code === null);
    if (!ok) out.add(`${a.key} → ${a.status} ${a.code ?? "(no code)"} (${a.why})`);
  }
  return [...out].sort();
}

describe("the OpenAPI document is complete", () => {
  test("every route the app serves is an operation of the document, and every operation a route", () => {
    const served = (h.app.routes as { method: string; path: string; hooks: { detail?: { hide?: boolean } } }[])
      .filter((r) => !r.hooks.detail?.hide && r.method !== "HEAD" && !r.path.startsWith("/openapi"))
      .map((r) => `${r.method} ${r.path.replace(/:([^/]+)/g, "{$1}")}`);
    const documented = ops.map((o) => o.key).filter((k) => !k.split(" ")[1]!.startsWith("/openapi"));
    expect({ undocumented: served.filter((k) => !documented.includes(k)).sort(), unserved: documented.filter((k) => !served.includes(k)).sort() }).toEqual({ undocumented: [], unserved: [] });
    expect(ops.length).toBeGreaterThanOrEqual(12);
  });

  test("every operation lists what any operation of its kind can answer, under the table's status", () => {
    const missing: string[] = [];
    for (const { key, op } of ops) {
      for (const code of requiredAnswers(op, key)) if (!lists(op, code)) missing.push(`${key}: ${statusOf(code)} ${code}`);
      for (const [status, response] of Object.entries(op.responses)) {
        for (const code of codesOf(response) ?? []) {
          if (!(code in ERROR_CODES) || String(statusOf(code as ErrorCode)) !== status) missing.push(`${key}: ${code} under ${status}, not the table's status`);
        }
      }
    }
    expect(missing).toEqual([]);
    // The exemptions name operations that exist: a renamed route does not keep a stale one.
    expect(Object.keys(NO_POSTGRES).filter((k) => !ops.some((o) => o.key === k))).toEqual([]);
  });

  test("every operation, driven from its own description, answers only what it lists", async () => {
    expect(JOB).not.toBe("");
    const seen: Seen[] = [];
    const misfired: string[] = [];
    for (const o of ops) {
      if (o.path.startsWith("/openapi")) continue;
      for (const d of drivesFor(o)) {
        faults.set(d.fault ?? "none");
        let r;
        try {
          r = await h.call(o.method, d.path, d.init);
        } finally {
          faults.set("none");
        }
        const code = (r.body?.error?.code as string | undefined) ?? null;
        seen.push({ key: o.key, why: d.why, status: r.status, code });
        // The refusals the document's common answers promise are the ones given.
        const expected: Record<string, [number, string]> = {
          "malformed JSON": [400, "MALFORMED_JSON"],
          "a text/plain body": [415, "UNSUPPORTED_MEDIA_TYPE"],
          "a body over the limit": [413, "PAYLOAD_TOO_LARGE"],
          "no token": [401, "UNAUTHORIZED"],
        };
        const want = expected[d.why];
        if (want && (r.status !== want[0] || code !== want[1])) misfired.push(`${o.key} (${d.why}): ${r.status} ${code}, not ${want.join(" ")}`);
      }
    }
    if (process.env.SHOW_ANSWERS) for (const a of seen) console.log(`${a.key} | ${a.why} → ${a.status} ${a.code ?? ""}`);
    expect(seen.length).toBeGreaterThan(ops.length * 2);
    expect({ unlisted: unlisted(doc, seen), misfired }).toEqual({ unlisted: [], misfired: [] });
  }, 60_000);

  test("a request body the document names as a component is the schema its route validates with", () => {
    const components = (doc as Doc & { components: { schemas: Record<string, unknown> } }).components.schemas;
    const routes = h.app.routes as { method: string; path: string; hooks: { body?: unknown } }[];
    const checked: string[] = [];
    const wrong: string[] = [];
    for (const { key, method, path, op } of ops) {
      const schema = (op.requestBody?.content?.["application/json"] as { schema?: { $ref?: string } } | undefined)?.schema;
      if (!schema?.$ref) continue;
      const name = schema.$ref.replace("#/components/schemas/", "");
      const route = routes.find((r) => r.method === method && r.path.replace(/:([^/]+)/g, "{$1}") === path);
      if (!route?.hooks.body || JSON.stringify(route.hooks.body) !== JSON.stringify(components[name])) wrong.push(`${key}: ${name}`);
      checked.push(key);
    }
    expect(wrong).toEqual([]);
    expect(checked.length).toBeGreaterThanOrEqual(4);
    // Every code the api answers is in the ErrorCode component, with its status.
    const codes = components.ErrorCode as { enum: string[]; description: string };
    expect(codes.enum).toEqual(Object.keys(ERROR_CODES));
    for (const code of codes.enum) expect(codes.description).toContain(`\`${code}\` (${statusOf(code as ErrorCode)})`);
  });

  test("the checks fail on an operation that leaves an answer out", () => {
    const key = "GET /products/{id}";
    const op = ops.find((o) => o.key === key)!.op;
    const trimmed: Operation = { ...op, responses: Object.fromEntries(Object.entries(op.responses).filter(([s]) => s !== "503" && s !== "500")) };
    expect(requiredAnswers(trimmed, key).filter((c) => !lists(trimmed, c))).toEqual(["INTERNAL", "UNAVAILABLE"]);
    const doc2: Doc = { paths: { "/products/{id}": { get: trimmed } } };
    expect(unlisted(doc2, [{ key, why: "x", status: 503, code: "UNAVAILABLE" }, { key, why: "y", status: 200, code: null }])).toEqual([`${key} → 503 UNAVAILABLE (x)`]);
    expect(unlisted(doc, [{ key, why: "z", status: 400, code: "MALFORMED_JSON" }])).toEqual([`${key} → 400 MALFORMED_JSON (z)`]);
  });
});
