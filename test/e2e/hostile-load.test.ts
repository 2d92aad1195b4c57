// Twenty of the nastiest bodies at once against the api process, while /healthz is asked
// throughout: each gets its 4xx and the api keeps answering (issue 9). The latency under this load
// is measured by bench/hostile.ts, not asserted here.
import { afterAll, expect, test } from "bun:test";
import { BUN, spawn, type Proc } from "../support/processes.ts";
import { NASTY } from "../support/nasty-bodies.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniquePrefix, waitFor } from "../support/services.ts";

const TOKEN = "hostile-admin-token-0123456789";
let proc: Proc;
afterAll(() => proc?.kill("SIGKILL"));

test("20 of the nastiest bodies at once: each answered 4xx, and /healthz answers throughout", async () => {
  proc = spawn([BUN, "src/main.ts"], { PORT: "0", DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, CACHE_KEY_PREFIX: uniquePrefix("hostile"), ADMIN_TOKEN: TOKEN, APP_ENV: "production", LOG_LEVEL: "info" });
  const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(proc.output())?.[1], 20_000, "the api to listen");
  await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, "readiness");
  const id = `${uniquePrefix("hostile")}-p`;
  expect((await fetch(`${url}/products`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, name: "Pot", priceCents: 1, currency: "EUR" }) })).status).toBe(201);

  let done = false;
  const health: number[] = [];
  const probe = (async () => {
    while (!done) {
      health.push((await fetch(`${url}/healthz`)).status);
      await Bun.sleep(5);
    }
  })();
  const requests = Array.from({ length: 20 }, (_, i) => NASTY[i % NASTY.length]!);
  const statuses = await Promise.all(
    requests.map(async (n) => {
      const res = await fetch(`${url}${n.path(id)}`, {
        method: n.method,
        headers: { "content-type": "application/json", ...(n.admin ? { authorization: `Bearer ${TOKEN}` } : {}) },
        body: n.body,
      });
      const body = (await res.json()) as { error?: { code?: string } };
      return { label: n.label, status: res.status, hasCode: typeof body.error?.code === "string" };
    }),
  );
  done = true;
  await probe;
  expect(statuses).toEqual(requests.map((n) => ({ label: n.label, status: n.status, hasCode: true })));
  expect(health.length).toBeGreaterThan(0);
  expect(health.every((s) => s === 200)).toBe(true);
  // Nothing was written: the product is still at version 1.
  expect((await fetch(`${url}/products/${id}`)).headers.get("etag")).toBe('"1"');
});
