// The README's first session, run as written (issue 14, item 1): its shell block is taken from the
// README, pointed at an api of the test's own (the same development mode scripts/up.sh runs), and
// run with bash and curl; each step answers what the README's comment says it does.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BUN, ROOT, spawn, type Proc } from "../support/processes.ts";
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniquePrefix, waitFor } from "../support/services.ts";

let api: Proc;
let base: string;
beforeAll(async () => {
  api = spawn([BUN, "src/main.ts"], { PORT: "0", APP_ENV: "development", DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, CACHE_KEY_PREFIX: uniquePrefix("readme"), LOG_LEVEL: "info" });
  base = await waitFor(() => /"url":"http:\/\/([^"]+)"/.exec(api.output())?.[1], 20_000, "the api to listen");
});
afterAll(() => api?.kill("SIGTERM"));

test("every command of the README's first session works as written, with the answers its comments name", async () => {
  const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
  const from = readme.indexOf("A first session");
  expect(from).toBeGreaterThan(-1);
  const open = readme.indexOf("```sh\n", from) + 6;
  const script = readme.slice(open, readme.indexOf("```", open));
  expect(script).toContain("localhost:3000");
  const run = Bun.spawn(["bash", "-euo", "pipefail", "-c", script.replaceAll("localhost:3000", base)], { cwd: ROOT, env: { PATH: "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  expect({ code, err }).toEqual({ code: 0, err: expect.any(String) });
  // create, read, change, the same change again, read your write, delete, read
  expect([...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))).toEqual([201, 200, 200, 412, 200, 204, 404]);
  expect(out).toMatch(/^x-cache: hit/im);
  expect(out).toContain('"code":"VERSION_CONFLICT"');
  expect(out).toMatch(/"events":\[\{"version":1,"type":"ProductCreated"/);
  expect(out).toMatch(/"namespaces":\[\{"namespace":"catalog","key":"[^"]+","status":"current"/);
  expect(out).toContain('"code":"NOT_FOUND"');
}, 30_000);
