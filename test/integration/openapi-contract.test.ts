// The OpenAPI document against what the routes answer (issue 10). Every operation is driven with
// requests that produce each of its statuses (faults of PostgreSQL injected into the store for 503,
// 500 and exhausted retries), then with requests the HTTP fuzzer generates from the document; each
// (operation, status, error.code) answered must be one the operation lists, and each one listed
// must have been answered. A static check derives from each route's schemas and parsers the codes
// the one error mapper can give it, and requires them listed with the table's status; docs/HTTP.md's
// error table must be the table (src/catalog/errors.ts). Also: the 404 of GET /products/:id, which goes
// through the mapper, keeps its cache headers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ERROR_CODES, errorCodes, statusOf, type ErrorCode } from "../../src/catalog/errors.ts";
import { CONSOLE_OPEN_PATHS } from "../../src/http/console.ts";
import { faultSwitch, type Fault } from "../support/faulty-store.ts";
import { ADMIN_TOKEN, createHarness, type Reply } from "../support/harness.ts";
import { operationsOf, unitsFor } from "../support/http-fuzzer.ts";

// Faults of the api's event store, switched per request (test/support/faulty-store.ts).
const faults = faultSwitch();
const h = createHarness("contract", { wrapStore: faults.wrap });
afterAll(() => h.close());

type Response = { description?: string; content?: Record<string, { schema?: { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } } }> };
type Operation = { operationId?: string; responses: Record<string, Response>; requestBody?: unknown };
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, any> } };
let doc: Doc;

/** "GET /products/{id}" for a request, or null when no operation has its method and path. */
let operationOf: (method: string, url: string) => string | null;

beforeAll(async () => {
  doc = (await h.call("GET", "/openapi/json")).body;
  const matchers = Object.entries(doc.paths).flatMap(([path, ops]) => {
    const re = new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}/?$`); // the router ignores a trailing slash
    return Object.keys(ops).map((m) => ({ key: `${m.toUpperCase()} ${path}`, method: m.toUpperCase(), re }));
  });
  operationOf = (method, url) => {
    const pathname = url.split("?")[0]!;
    return matchers.find((m) => m.method === method && m.re.test(pathname))?.key ?? null;
  };
});

const opOf = (key: string) => {
  const [method, path] = key.split(" ") as [string, string];
  return doc.paths[path]![method.toLowerCase()]!;
};
/** The codes a documented response restricts `error.code` to; null for a response that is not an error body. */
const codesOf = (r: Response): string[] | null => r.content?.["application/json"]?.schema?.properties?.error?.properties?.code?.enum ?? null;

/** What was answered: operation (or "no route"), status and error code. */
type Seen = { op: string; status: number; code: string | null; request: string };
const seen: Seen[] = [];
const NO_ROUTE = "(no route)";

function record(method: string, path: string, r: Reply): Seen {
  const s = { op: operationOf(method, path) ?? NO_ROUTE, status: r.status, code: (r.body?.error?.code as string | undefined) ?? null, request: `${method} ${path.slice(0, 80)}` };
  seen.push(s);
  return s;
}

/** Each answer the document does not list, as a line. */
function undocumented(answers: Seen[]): string[] {
  const out = new Set<string>();
  for (const a of answers) {
    const what = `${a.op} → ${a.status} ${a.code ?? "(no code)"} (e.g. ${a.request})`;
    if (a.op === NO_ROUTE) {
      // Not an operation: only "no such route", or the admin guard, which runs before routing.
      const admin = a.request.split(" ")[1]!.startsWith("/admin/");
      const ok = (a.status === 404 && a.code === "ROUTE_NOT_FOUND") || (admin && a.status === 401 && a.code === "UNAUTHORIZED");
      if (!ok || !doc.components.schemas.Error.properties.error.properties.code.enum.includes(a.code)) out.add(what);
      continue;
    }
    const response = opOf(a.op).responses[String(a.status)];
    if (!response) out.add(what);
    else {
      const codes = codesOf(response);
      if (codes ? a.code === null || !codes.includes(a.code) : a.code !== null) out.add(what);
    }
  }
  return [...out].sort();
}

// ---------------------------------------------------------------------------------------------
// Requests that produce each status of each operation.

type Init = Parameters<typeof h.call>[2];
type Case = { label: string; method: string; path: () => string; init?: () => Init; fault?: Fault; status: number; code?: ErrorCode };

let P = ""; // an existing product
let D = ""; // a deleted product
let JOB = ""; // a replay job
const LOCKED_NS = `contract${Date.now().toString(36)}`; // a namespace whose full-replay lock a test holds
const ghost = () => h.id("ghost"); // never created, never cached: a read of it reaches the store
const valid = { name: "Lamp", priceCents: 1000, currency: "EUR" };
const json = (body: unknown, extra: Init = {}) => ({ body, ...extra });
const raw = (text: string, type = "application/json", extra: Init = {}) => ({ raw: text, ...extra, headers: { "content-type": type, ...extra.headers } });
const big = () => JSON.stringify({ ...valid, description: "x".repeat(70_000) });
const admin = { admin: true };
// A console session (logged in before the cases run), from the api's own origin or from another.
let SESSION = "";
const OWN = { origin: "http://localhost" };
const session = (origin: Record<string, string> = OWN, extra: Init = {}) => ({ ...extra, headers: { cookie: SESSION, ...origin, ...extra?.headers } });

const cases: Case[] = [
  { label: "read", method: "GET", path: () => `/products/${P}`, status: 200 },
  { label: "read, If-None-Match current", method: "GET", path: () => `/products/${P}`, init: () => ({ headers: { "if-none-match": '"1"' } }), status: 304 },
  { label: "read, bad id", method: "GET", path: () => "/products/a%01b", status: 400, code: "VALIDATION_FAILED" },
  { label: "read, deleted", method: "GET", path: () => `/products/${D}`, status: 404, code: "NOT_FOUND" },
  { label: "read, minVersion above PostgreSQL", method: "GET", path: () => `/products/${P}?minVersion=999`, status: 412, code: "VERSION_NOT_REACHED" },
  { label: "read, PostgreSQL down", method: "GET", path: () => `/products/${ghost()}`, fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "read, a fault", method: "GET", path: () => `/products/${ghost()}`, fault: "broken", status: 500, code: "INTERNAL" },

  { label: "batch", method: "GET", path: () => `/products?ids=${P},nope`, status: 200 },
  { label: "batch, no ids", method: "GET", path: () => "/products", status: 400, code: "VALIDATION_FAILED" },
  { label: "batch, PostgreSQL down", method: "GET", path: () => `/products?ids=${ghost()}`, fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "batch, a fault", method: "GET", path: () => `/products?ids=${ghost()}`, fault: "broken", status: 500, code: "INTERNAL" },

  { label: "history", method: "GET", path: () => `/products/${P}/events`, status: 200 },
  { label: "history, bad id", method: "GET", path: () => `/products/${"i".repeat(65)}/events`, status: 400, code: "VALIDATION_FAILED" },
  { label: "history, unknown", method: "GET", path: () => `/products/${ghost()}/events`, status: 404, code: "NOT_FOUND" },
  { label: "history, PostgreSQL down", method: "GET", path: () => `/products/${P}/events`, fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "history, a fault", method: "GET", path: () => `/products/${P}/events`, fault: "broken", status: 500, code: "INTERNAL" },

  { label: "create", method: "POST", path: () => "/products", init: () => json(valid), status: 201 },
  { label: "create, invalid", method: "POST", path: () => "/products", init: () => json({ ...valid, name: "" }), status: 400, code: "VALIDATION_FAILED" },
  { label: "create, malformed", method: "POST", path: () => "/products", init: () => raw("{"), status: 400, code: "MALFORMED_JSON" },
  { label: "create, existing id", method: "POST", path: () => "/products", init: () => json({ ...valid, id: P }), status: 409, code: "ALREADY_EXISTS" },
  { label: "create, retries exhausted", method: "POST", path: () => "/products", init: () => json(valid), fault: "contended", status: 409, code: "CONFLICT_RETRY_EXHAUSTED" },
  { label: "create, too large", method: "POST", path: () => "/products", init: () => raw(big()), status: 413, code: "PAYLOAD_TOO_LARGE" },
  { label: "create, text/plain", method: "POST", path: () => "/products", init: () => raw(JSON.stringify(valid), "text/plain"), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  { label: "create, PostgreSQL down", method: "POST", path: () => "/products", init: () => json(valid), fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "create, a fault", method: "POST", path: () => "/products", init: () => json(valid), fault: "broken", status: 500, code: "INTERNAL" },
];

// PUT and PATCH answer alike; their bodies differ.
for (const [method, body] of [["PUT", valid], ["PATCH", { priceCents: 7 }]] as const) {
  cases.push(
    { label: `${method}`, method, path: () => `/products/${P}`, init: () => json(body), status: 200 },
    { label: `${method}, invalid`, method, path: () => `/products/${P}`, init: () => json({ ...body, priceCents: -1 }), status: 400, code: "VALIDATION_FAILED" },
    { label: `${method}, malformed`, method, path: () => `/products/${P}`, init: () => raw('{"name":'), status: 400, code: "MALFORMED_JSON" },
    { label: `${method}, unknown`, method, path: () => `/products/${ghost()}`, init: () => json(body), status: 404, code: "NOT_FOUND" },
    { label: `${method}, retries exhausted`, method, path: () => `/products/${P}`, init: () => json({ ...body, priceCents: 8 }), fault: "contended", status: 409, code: "CONFLICT_RETRY_EXHAUSTED" },
    { label: `${method}, stale If-Match`, method, path: () => `/products/${P}`, init: () => json(body, { headers: { "if-match": '"99"' } }), status: 412, code: "VERSION_CONFLICT" },
    { label: `${method}, too large`, method, path: () => `/products/${P}`, init: () => raw(big()), status: 413, code: "PAYLOAD_TOO_LARGE" },
    { label: `${method}, form body`, method, path: () => `/products/${P}`, init: () => raw("name=x", "application/x-www-form-urlencoded"), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    { label: `${method}, PostgreSQL down`, method, path: () => `/products/${P}`, init: () => json(body), fault: "down", status: 503, code: "UNAVAILABLE" },
    { label: `${method}, a fault`, method, path: () => `/products/${P}`, init: () => json(body), fault: "broken", status: 500, code: "INTERNAL" },
  );
}

cases.push(
  { label: "delete, bad If-Match", method: "DELETE", path: () => `/products/${P}`, init: () => ({ headers: { "if-match": "1" } }), status: 400, code: "VALIDATION_FAILED" },
  { label: "delete, a 1 MB malformed body (not read)", method: "DELETE", path: () => `/products/${ghost()}`, init: () => raw(`{${"[".repeat(1_000_000)}`), status: 404, code: "NOT_FOUND" },
  { label: "delete, unknown", method: "DELETE", path: () => `/products/${ghost()}`, status: 404, code: "NOT_FOUND" },
  { label: "delete, retries exhausted", method: "DELETE", path: () => `/products/${P}`, fault: "contended", status: 409, code: "CONFLICT_RETRY_EXHAUSTED" },
  { label: "delete, stale If-Match", method: "DELETE", path: () => `/products/${P}`, init: () => ({ headers: { "if-match": '"99"' } }), status: 412, code: "VERSION_CONFLICT" },
  { label: "delete, PostgreSQL down", method: "DELETE", path: () => `/products/${P}`, fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "delete, a fault", method: "DELETE", path: () => `/products/${P}`, fault: "broken", status: 500, code: "INTERNAL" },
  { label: "delete", method: "DELETE", path: () => `/products/${P}`, status: 204 }, // last: P is gone after it

  { label: "replay of some ids", method: "POST", path: () => "/admin/replay", init: () => json({ productIds: [D] }, admin), status: 202 },
  { label: "replay, invalid", method: "POST", path: () => "/admin/replay", init: () => json({ productIds: [] }, admin), status: 400, code: "VALIDATION_FAILED" },
  { label: "replay, malformed", method: "POST", path: () => "/admin/replay", init: () => raw("{", "application/json", admin), status: 400, code: "MALFORMED_JSON" },
  { label: "replay, no token", method: "POST", path: () => "/admin/replay", init: () => json({ productIds: [D] }), status: 401, code: "UNAUTHORIZED" },
  { label: "replay, no body, a full replay running", method: "POST", path: () => "/admin/replay", init: () => admin, status: 409, code: "REPLAY_RUNNING" },
  { label: "replay of a namespace, a full replay running", method: "POST", path: () => "/admin/replay", init: () => json({ namespace: LOCKED_NS }, admin), status: 409, code: "REPLAY_RUNNING" },
  { label: "replay, too large", method: "POST", path: () => "/admin/replay", init: () => raw(big(), "application/json", admin), status: 413, code: "PAYLOAD_TOO_LARGE" },
  { label: "replay, text/plain", method: "POST", path: () => "/admin/replay", init: () => raw("{}", "text/plain", admin), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  { label: "replay job", method: "GET", path: () => `/admin/replay/${JOB}`, init: () => admin, status: 200 },
  { label: "replay job, bad id", method: "GET", path: () => "/admin/replay/a_b", init: () => admin, status: 400, code: "VALIDATION_FAILED" },
  { label: "replay job, no token", method: "GET", path: () => `/admin/replay/${JOB}`, status: 401, code: "UNAUTHORIZED" },
  { label: "replay job, unknown", method: "GET", path: () => "/admin/replay/no-such-job", init: () => admin, status: 404, code: "NOT_FOUND" },

  { label: "liveness", method: "GET", path: () => "/healthz", status: 200 },
  { label: "ready", method: "GET", path: () => "/readyz", status: 200 },
  { label: "not ready", method: "GET", path: () => "/readyz", fault: "down", status: 503 },
  { label: "metrics", method: "GET", path: () => "/metrics", status: 200 },

  { label: "replay, a session from another origin", method: "POST", path: () => "/admin/replay", init: () => json({ productIds: [D] }, session({ origin: "http://attacker.example" })), status: 403, code: "FORBIDDEN_ORIGIN" },
  { label: "recent jobs", method: "GET", path: () => "/admin/replay?limit=5", init: () => admin, status: 200 },
  { label: "recent jobs, with a session", method: "GET", path: () => "/admin/replay", init: () => session({}), status: 200 },
  { label: "recent jobs, bad limit", method: "GET", path: () => "/admin/replay?limit=0", init: () => admin, status: 400, code: "VALIDATION_FAILED" },
  { label: "recent jobs, no token", method: "GET", path: () => "/admin/replay", status: 401, code: "UNAUTHORIZED" },
  { label: "overview", method: "GET", path: () => "/admin/overview", init: () => admin, status: 200 },
  { label: "overview, no token", method: "GET", path: () => "/admin/overview", status: 401, code: "UNAUTHORIZED" },
  { label: "a product's caches", method: "GET", path: () => `/admin/products/${P}/cache`, init: () => admin, status: 200 },
  { label: "a product's caches, bad id", method: "GET", path: () => "/admin/products/a%01b/cache", init: () => admin, status: 400, code: "VALIDATION_FAILED" },
  { label: "a product's caches, no token", method: "GET", path: () => `/admin/products/${P}/cache`, status: 401, code: "UNAUTHORIZED" },
  { label: "a product's caches, PostgreSQL down", method: "GET", path: () => `/admin/products/${P}/cache`, init: () => admin, fault: "down", status: 503, code: "UNAVAILABLE" },
  { label: "a product's caches, a fault", method: "GET", path: () => `/admin/products/${P}/cache`, init: () => admin, fault: "broken", status: 500, code: "INTERNAL" },
  { label: "dead letters", method: "GET", path: () => "/admin/dead-letters?limit=3", init: () => admin, status: 200 },
  { label: "dead letters, bad limit", method: "GET", path: () => "/admin/dead-letters?limit=101", init: () => admin, status: 400, code: "VALIDATION_FAILED" },
  { label: "dead letters, no token", method: "GET", path: () => "/admin/dead-letters", status: 401, code: "UNAUTHORIZED" },
  { label: "re-drive", method: "POST", path: () => "/admin/dead-letters/redrive?group=g1", init: () => admin, status: 200 },
  { label: "re-drive, bad group", method: "POST", path: () => "/admin/dead-letters/redrive?group=a%20b", init: () => admin, status: 400, code: "VALIDATION_FAILED" },
  { label: "re-drive, no token", method: "POST", path: () => "/admin/dead-letters/redrive", status: 401, code: "UNAUTHORIZED" },
  { label: "re-drive, a session without Origin", method: "POST", path: () => "/admin/dead-letters/redrive", init: () => session({}), status: 403, code: "FORBIDDEN_ORIGIN" },
  { label: "re-drive, Kafka down", method: "POST", path: () => "/admin/dead-letters/redrive?group=down", init: () => admin, status: 503, code: "UNAVAILABLE" },
  { label: "console page", method: "GET", path: () => "/admin/console", status: 200 },
  { label: "login", method: "POST", path: () => "/admin/session", init: () => json({ token: ADMIN_TOKEN }, session()), status: 204 },
  { label: "login, wrong token", method: "POST", path: () => "/admin/session", init: () => json({ token: "wrong" }, session()), status: 401, code: "UNAUTHORIZED" },
  { label: "login, no Origin", method: "POST", path: () => "/admin/session", init: () => json({ token: ADMIN_TOKEN }), status: 403, code: "FORBIDDEN_ORIGIN" },
  { label: "login, no token", method: "POST", path: () => "/admin/session", init: () => json({}, session()), status: 400, code: "VALIDATION_FAILED" },
  { label: "login, malformed", method: "POST", path: () => "/admin/session", init: () => raw("{", "application/json", session()), status: 400, code: "MALFORMED_JSON" },
  { label: "login, too large", method: "POST", path: () => "/admin/session", init: () => raw(JSON.stringify({ token: "x".repeat(9000) }), "application/json", session()), status: 413, code: "PAYLOAD_TOO_LARGE" },
  { label: "login, text/plain", method: "POST", path: () => "/admin/session", init: () => raw("{}", "text/plain", session()), status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
  { label: "logout", method: "POST", path: () => "/admin/session/logout", init: () => session(), status: 204 },
  { label: "logout, another origin", method: "POST", path: () => "/admin/session/logout", init: () => session({ origin: "http://attacker.example" }), status: 403, code: "FORBIDDEN_ORIGIN" },

  { label: "no such route", method: "GET", path: () => "/nope", status: 404, code: "ROUTE_NOT_FOUND" },
  { label: "no such method", method: "DELETE", path: () => "/products", status: 404, code: "ROUTE_NOT_FOUND" },
  { label: "no such admin route", method: "GET", path: () => "/admin/nope", status: 401, code: "UNAUTHORIZED" },
);

/**
 * Listed responses no request here can bring about: a fault of the health routes (they do no I/O,
 * or catch what fails) and of the replay's Redis job store (not injectable through the harness).
 */
const NOT_DRIVEN = new Set([
  "GET /healthz 500",
  "GET /readyz 500",
  "GET /metrics 500",
  "POST /admin/replay 500",
  "GET /admin/replay/{jobId} 500",
  "GET /admin/replay 500",
  // The operator's views read Redis (not injectable here; Redis down is 503, driven in
  // admin-redis-down.test.ts); the re-drive's failures are 503; the console's page, login and
  // logout do no I/O.
  "POST /admin/replay 503",
  "GET /admin/replay/{jobId} 503",
  "GET /admin/replay 503",
  "GET /admin/overview 503",
  "GET /admin/dead-letters 503",
  "GET /admin/overview 500",
  "GET /admin/dead-letters 500",
  "POST /admin/dead-letters/redrive 500",
  "GET /admin/console 500",
  "POST /admin/session 500",
  "POST /admin/session/logout 500",
]);

describe("the OpenAPI document lists what each operation answers", () => {
  beforeAll(async () => {
    P = (await h.create()).id;
    D = (await h.create()).id;
    expect((await h.call("DELETE", `/products/${D}`)).status).toBe(204);
    const started = await h.call("POST", "/admin/replay", { body: { productIds: [P] }, admin: true });
    expect(started.status).toBe(202);
    JOB = started.body.jobId;
    const login = await h.call("POST", "/admin/session", { body: { token: ADMIN_TOKEN }, headers: OWN });
    expect(login.status).toBe(204);
    SESSION = login.headers.get("set-cookie")!.split(";")[0]!;
    h.setRedrive(async (group) => {
      if (group === "down") throw new Error("no broker");
      return { output: `sent back ${group ?? "all"}` };
    });
    // Hold the full-replay lock of the api's namespace and of another one, as a running replay does.
    expect(await h.jobs.tryLock("catalog", "contract-holder", 60_000)).toBeNull();
    expect(await h.jobs.tryLock(LOCKED_NS, "contract-holder", 60_000)).toBeNull();
  });
  afterAll(async () => {
    await h.jobs.release("catalog", "contract-holder");
    await h.jobs.release(LOCKED_NS, "contract-holder");
  });

  test("every case answers the status and code it is meant to", async () => {
    const wrong: string[] = [];
    for (const c of cases) {
      const path = c.path();
      faults.set(c.fault ?? "none");
      let r: Reply;
      try {
        r = await h.call(c.method, path, c.init?.());
      } finally {
        faults.set("none");
      }
      const s = record(c.method, path, r);
      if (s.status !== c.status || s.code !== (c.code ?? null)) wrong.push(`${c.label}: ${s.status} ${s.code}, not ${c.status} ${c.code ?? ""}`);
    }
    expect(wrong).toEqual([]);
  });

  test("requests the HTTP fuzzer generates from the document", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now());
    console.log(`contract fuzz seed ${seed} (repeat with FUZZ_SEED=${seed})`);
    const pool = (await Promise.all(Array.from({ length: 8 }, () => h.create()))).map((p) => p.id);
    // Valid replay bodies start full replays of the whole test database: the cases drive that operation.
    const ops = operationsOf(doc as never).filter((op) => !(op.method === "POST" && op.path === "/admin/replay"));
    const units = fc.sample(unitsFor(ops, pool), { numRuns: 600, seed }).filter((u) => u.wire === "app");
    for (const unit of units) {
      for (const r of unit.requests) record(r.method, r.path, await h.call(r.method, r.path, { raw: r.raw, headers: r.headers }));
    }
    expect(units.length).toBeGreaterThan(300);
  }, 120_000);

  test("every answer seen is listed by its operation, and every listed answer was seen", () => {
    expect(undocumented(seen)).toEqual([]);
    const answered = new Set(seen.map((s) => `${s.op} ${s.status}${s.code ? ` ${s.code}` : ""}`));
    const unseen: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const key = `${method.toUpperCase()} ${path} ${status}`;
          if (NOT_DRIVEN.has(key)) continue;
          for (const code of codesOf(response) ?? [null]) if (!answered.has(code ? `${key} ${code}` : key)) unseen.push(code ? `${key} ${code}` : key);
        }
      }
    }
    expect(unseen).toEqual([]);
  });

  test("the check fails on an answer the document does not list", () => {
    const fakes: Seen[] = [
      { op: "DELETE /products/{id}", status: 413, code: "PAYLOAD_TOO_LARGE", request: "DELETE /products/x" },
      { op: "GET /products", status: 404, code: "NOT_FOUND", request: "GET /products?ids=x" },
      { op: "GET /products/{id}", status: 400, code: "MALFORMED_JSON", request: "GET /products/x" },
      { op: "GET /readyz", status: 503, code: "UNAVAILABLE", request: "GET /readyz" },
      { op: NO_ROUTE, status: 401, code: "UNAUTHORIZED", request: "GET /nope" },
    ];
    expect(undocumented(fakes).length).toBe(fakes.length);
  });
});

describe("the 404 of GET /products/:id, through the error mapper", () => {
  test("a deleted product's cached tombstone answers 404 as a hit; an unknown id as a miss that was stored", async () => {
    const gone = (await h.create()).id;
    expect((await h.call("DELETE", `/products/${gone}`)).status).toBe(204);
    const unknown = h.id("unknown");
    const answers = [];
    for (const id of [gone, unknown, unknown]) {
      const r = await h.call("GET", `/products/${id}`);
      answers.push({ status: r.status, headers: Object.fromEntries(r.headers), body: r.body });
    }
    const notFound = (id: string, cache: string, status: string, deletedAt?: number) => ({
      status: 404,
      headers: { "content-type": "application/json;charset=utf-8", "x-cache": cache, "cache-status": status, ...(deletedAt ? { etag: `"${deletedAt}"` } : {}) },
      body: { error: { code: "NOT_FOUND", message: `product ${id} not found` } },
    });
    expect(answers).toEqual([
      notFound(gone, "hit", "catalog-cache; hit", 2), // the delete's write-through cached the tombstone; its version is the ETag
      notFound(unknown, "miss", "catalog-cache; fwd=miss; stored"), // "no such product" cached…
      notFound(unknown, "hit", "catalog-cache; hit"), // …and served
    ]);
  });
});

describe("the error mapper's codes, statically", () => {
  /** The codes the one error mapper (src/http/errors.ts) can answer a route with, from its schemas and parsers alone. */
  function mapperCodes(route: { method: string; path: string; hooks: Record<string, any> }): ErrorCode[] {
    const codes: ErrorCode[] = ["INTERNAL"]; // anything unexpected
    const { params, query, headers, body, parse } = route.hooks;
    if (params || query || headers || body) codes.push("VALIDATION_FAILED"); // Elysia's validation
    const parsers: string[] = (parse ?? []).map((p: { fn: unknown }) => p.fn);
    if (parsers.some((p) => p === "jsonStrict" || p === "jsonOptional" || p === "consoleJson")) {
      codes.push("VALIDATION_FAILED", "MALFORMED_JSON", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"); // src/http/body.ts
    } else if (route.method !== "GET" && route.method !== "HEAD" && !parsers.includes("none")) codes.push("MALFORMED_JSON"); // Elysia's own parser, on any body sent
    const open = CONSOLE_OPEN_PATHS.has(route.path);
    if (route.path.startsWith("/admin/") && !open) codes.push("UNAUTHORIZED"); // the guard
    if (route.path.startsWith("/admin/") && route.method !== "GET") codes.push("FORBIDDEN_ORIGIN"); // a session's Origin (auth.ts)
    return [...new Set(codes)];
  }

  test("each code the mapper can give a route is listed by its operation, under the table's status", () => {
    const missing: string[] = [];
    const routes = (h.app.routes as { method: string; path: string; hooks: Record<string, any> }[]).filter((r) => !r.hooks.detail?.hide && !r.path.startsWith("/openapi"));
    expect(routes.length).toBe(20);
    for (const route of routes) {
      const key = `${route.method} ${route.path.replace(/:([^/]+)/g, "{$1}")}`;
      const op = doc.paths[key.split(" ")[1]!]?.[route.method.toLowerCase()];
      if (!op) {
        missing.push(`${key}: no operation`);
        continue;
      }
      for (const code of mapperCodes(route)) {
        const response = op.responses[String(statusOf(code))];
        if (!response || !codesOf(response)?.includes(code)) missing.push(`${key}: ${statusOf(code)} ${code}`);
      }
    }
    expect(missing).toEqual([]);
  });

  test("every code listed is the table's, under the table's status; the Error schema has them all", () => {
    const misplaced: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, response] of Object.entries(op.responses)) {
          for (const code of codesOf(response) ?? []) {
            if (!(code in ERROR_CODES) || String(statusOf(code as ErrorCode)) !== status) misplaced.push(`${method.toUpperCase()} ${path} ${status} ${code}`);
          }
        }
      }
    }
    expect(misplaced).toEqual([]);
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(errorCodes);
  });

  test("docs/HTTP.md's error table is the table", async () => {
    const readme = await Bun.file(new URL("../../docs/HTTP.md", import.meta.url)).text();
    const start = readme.indexOf("| status | code | when |");
    expect(start).toBeGreaterThan(-1);
    const rows = readme.slice(start).split("\n").slice(2);
    const table = rows.slice(0, rows.findIndex((l) => !l.startsWith("|")));
    expect(table).toEqual(Object.entries(ERROR_CODES).map(([code, { status, meaning }]) => `| ${status} | \`${code}\` | ${meaning} |`));
  });
});
