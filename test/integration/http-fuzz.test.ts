// The HTTP fuzzer in its reduced form (FUZZ_REQUESTS units, default 3,000, every class of
// test/support/http-fuzzer.ts); `bun scripts/fuzz-http.ts` runs the full form.
import { afterAll, expect, test } from "bun:test";
import { createHarness } from "../support/harness.ts";
import { fuzzHttp } from "../support/http-fuzzer.ts";

const h = createHarness("fuzz");
afterAll(() => h.close());

test("generated and hostile requests: never a 5xx, invalid ones refused, no connection left hanging, and a 4xx changes nothing", async () => {
  const requests = Number(process.env.FUZZ_REQUESTS ?? 3000);
  const seed = Number(process.env.FUZZ_SEED ?? Date.now());
  console.log(`fuzz seed ${seed} (repeat a run with FUZZ_SEED=${seed})`); // printed first, so a failing run names it
  const report = await fuzzHttp(h, requests, seed);
  console.log(`fuzz: seed ${seed}, ${report.units} units, ${report.requests} requests, ${report.invalid} invalid by construction, statuses ${JSON.stringify(report.byStatus)}`);
  expect({
    serverErrors: report.serverErrors.slice(0, 5),
    changedOn4xx: report.changedOn4xx.slice(0, 5),
    acceptedInvalid: report.acceptedInvalid.slice(0, 5),
    broken: report.broken.slice(0, 5),
  }).toEqual({ serverErrors: [], changedOn4xx: [], acceptedInvalid: [], broken: [] });
  expect(report.units).toBe(requests);
  // every class ran
  expect(Object.keys(report.byClass).sort()).toEqual(["body on GET", "deep nesting", "long and odd headers", "pipelining", "query parameters", "schema", "slow bodies", "surrogates and NUL"]);
  // the fuzzer reached the valid paths too, not only the refusals
  const ok = Object.entries(report.byStatus).filter(([s]) => Number(s) < 300).reduce((n, [, c]) => n + c, 0);
  expect(ok).toBeGreaterThan(requests / 10);
}, 300_000);
