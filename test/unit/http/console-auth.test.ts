// The console's sessions and the admin guard (src/http/auth.ts), on a clock the test moves.
import { expect, test } from "bun:test";
import { adminGuard, checkOrigin, cookieValue, createSessions, SESSION_COOKIE } from "../../../src/http/auth.ts";

const TOKEN = "a-token-of-sixteen-or-more";
const refusal = (f: () => void) => {
  try {
    f();
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
};

test("a session is valid until it expires; a tampered one, or one signed under another token, never", () => {
  let now = 1_000_000;
  const sessions = createSessions(TOKEN, 60_000, () => now);
  const { value, expiresAt } = sessions.issue();
  expect(expiresAt).toBe(1_060_000);
  expect(value).not.toContain(TOKEN);
  expect(sessions.valid(value)).toBe(true);
  const [v, exp, nonce, mac] = value.split(".");
  expect(sessions.valid(`${v}.${Number(exp) + 3_600_000}.${nonce}.${mac}`)).toBe(false); // a longer life, same MAC
  expect(sessions.valid(`${v}.${exp}.${nonce}x.${mac}`)).toBe(false);
  expect(sessions.valid(`${value}x`)).toBe(false);
  expect(sessions.valid("")).toBe(false);
  expect(sessions.valid(undefined)).toBe(false);
  expect(createSessions(`${TOKEN}-rotated`, 60_000, () => now).valid(value)).toBe(false);
  now = expiresAt - 1;
  expect(sessions.valid(value)).toBe(true);
  now = expiresAt;
  expect(sessions.valid(value)).toBe(false);
});

test("the guard: the bearer token, or a session (with this api's Origin to change anything); a wrong bearer is refused even with a session", () => {
  const sessions = createSessions(TOKEN, 60_000);
  const guard = adminGuard(TOKEN, sessions);
  const cookie = `other=1; ${SESSION_COOKIE}=${sessions.issue().value}`;
  const req = (method: string, headers: Record<string, string>) => ({ request: new Request("http://api.test:3000/admin/replay", { method, headers }) });
  expect(refusal(() => guard(req("GET", { authorization: `Bearer ${TOKEN}` })))).toBeNull();
  expect(refusal(() => guard(req("POST", { authorization: `Bearer ${TOKEN}` })))).toBeNull(); // no cookie, no Origin needed
  expect(refusal(() => guard(req("GET", { cookie })))).toBeNull();
  expect(refusal(() => guard(req("POST", { cookie, origin: "http://api.test:3000" })))).toBeNull();
  expect(refusal(() => guard(req("POST", { cookie, origin: "http://evil.test" })))).toBe("FORBIDDEN_ORIGIN");
  expect(refusal(() => guard(req("POST", { cookie })))).toBe("FORBIDDEN_ORIGIN");
  expect(refusal(() => guard(req("GET", { cookie, authorization: "Bearer wrong" })))).toBe("UNAUTHORIZED");
  expect(refusal(() => guard(req("GET", {})))).toBe("UNAUTHORIZED");
  expect(refusal(() => guard(req("GET", { cookie: `${SESSION_COOKIE}=v1.9999999999999.x.forged` })))).toBe("UNAUTHORIZED");
  // Development mode: no token, everything open.
  expect(refusal(() => adminGuard(null, null)(req("POST", {})))).toBeNull();
});

test("cookieValue finds one cookie among others; checkOrigin lets safe methods through", () => {
  expect(cookieValue("a=1; catalog_console=v1.2.3.4; b=2", "catalog_console")).toBe("v1.2.3.4");
  expect(cookieValue("xcatalog_console=1", "catalog_console")).toBeUndefined();
  expect(cookieValue(null, "catalog_console")).toBeUndefined();
  expect(refusal(() => checkOrigin(new Request("http://a.test/admin/x", { method: "GET", headers: { origin: "http://b.test" } })))).toBeNull();
  expect(refusal(() => checkOrigin(new Request("http://a.test/admin/x", { method: "DELETE", headers: { origin: "http://b.test" } })))).toBe("FORBIDDEN_ORIGIN");
});
