// The api as a real process: it starts from its environment, serves, and stops gracefully.
import { afterAll, expect, test } from "bun:test";
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniquePrefix, waitFor } from "../support/services.ts";
import { BUN, spawn, type Proc } from "../support/processes.ts";

const running: Proc[] = [];
afterAll(() => running.forEach((p) => p.kill("SIGKILL")));

function startApi(env: Record<string, string> = {}) {
  const proc = spawn([BUN, "src/main.ts"], {
    PORT: "0",
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    CACHE_KEY_PREFIX: uniquePrefix("api"),
    LOG_LEVEL: "info",
    ...env,
  });
  running.push(proc);
  return proc;
}

test("the api serves on the port it reports, and on SIGTERM drains and exits 0", async () => {
  const proc = startApi();
  const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(proc.output())?.[1], 20_000, "the api to listen");
  expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok" });
  // Ready once Redis has connected (the api serves from PostgreSQL until then).
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, "readiness");

  const id = `${uniquePrefix("proc")}-x`;
  const created = await fetch(`${url}/products`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, name: "Pan", priceCents: 1500, currency: "EUR" }),
  });
  expect(created.status).toBe(201);
  const read = await fetch(`${url}/products/${id}`);
  expect([read.status, read.headers.get("x-cache")]).toEqual([200, "hit"]);

  const big = await fetch(`${url}/products`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "x".repeat(100_000) }),
  });
  expect([big.status, ((await big.json()) as { error: { code: string } }).error.code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);

  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  expect(proc.output()).toContain('"msg":"stopped"');
});

test("a bad configuration stops the api at start with a clear message and exit code 2", async () => {
  const proc = startApi({ PORT: "not-a-port" });
  expect(await proc.exited).toBe(2);
  expect(proc.output()).toContain("configuration error: PORT=\"not-a-port\" must be an integer from 0 to 65535");
});

test("outside development the api refuses to start without an admin token", async () => {
  for (const env of [{ APP_ENV: "production" }, { APP_ENV: "test", ADMIN_TOKEN: "short" }] as Record<string, string>[]) {
    const proc = startApi(env);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(`configuration error: ADMIN_TOKEN must be set to a secret of at least 16 characters when APP_ENV=${env.APP_ENV}`);
  }
  const ok = startApi({ APP_ENV: "production", ADMIN_TOKEN: "a-production-secret-123" });
  await waitFor(() => ok.output().includes('"msg":"api listening"'), 20_000, "the api with a token to start");
  ok.kill("SIGTERM");
  expect(await ok.exited).toBe(0);
});
