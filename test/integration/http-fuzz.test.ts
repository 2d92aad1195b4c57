// The HTTP fuzzer in its reduced form (FUZZ_REQUESTS, default 3,000); `bun scripts/fuzz-http.ts`
// runs the full form.
import { afterAll, expect, test } from "bun:test";
import { createHarness } from "../support/harness.ts";
import { fuzzHttp } from "../support/http-fuzzer.ts";

const h = createHarness("fuzz");
afterAll(() => h.close());

test("generated requests from the OpenAPI document: never a 5xx, invalid ones refused, and a 4xx changes nothing", async () => {
  const requests = Number(process.env.FUZZ_REQUESTS ?? 3000);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now());
  console.log(`fuzz seed ${seed} (repeat a run with FUZZ_SEED=${seed})`); // printed first, so a failing run names it
  const report = await fuzzHttp(h, requests, seed);
  console.log(`fuzz: seed ${seed}, ${report.requests} requests, ${report.invalid} invalid by construction, statuses ${JSON.stringify(report.byStatus)}`);
  expect({ serverErrors: report.serverErrors.slice(0, 5), changedOn4xx: report.changedOn4xx.slice(0, 5), acceptedInvalid: report.acceptedInvalid.slice(0, 5) }).toEqual({
    serverErrors: [],
    changedOn4xx: [],
    acceptedInvalid: [],
  });
  expect(report.requests).toBe(requests);
  // the fuzzer reached the valid paths too, not only the refusals
  const ok = Object.entries(report.byStatus).filter(([s]) => Number(s) < 300).reduce((n, [, c]) => n + c, 0);
  expect(ok).toBeGreaterThan(requests / 10);
}, 300_000);
