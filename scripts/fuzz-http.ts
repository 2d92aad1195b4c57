// The HTTP fuzzer in full form: `bun scripts/fuzz-http.ts [--requests 10000] [--seed N]`.
// Builds the api in-process against TEST_DATABASE_URL and TEST_REDIS_URL (as the tests do), sends
// requests generated from its OpenAPI document, and fails on any 5xx, any invalid request that was
// accepted, or any 4xx that changed something. See test/support/http-fuzzer.ts.
import { parseArgs } from "node:util";
import { createHarness } from "../test/support/harness.ts";
import { fuzzHttp } from "../test/support/http-fuzzer.ts";

const { values } = parseArgs({ options: { requests: { type: "string", default: "10000" }, seed: { type: "string" } } });
const seed = Number(values.seed ?? Date.now());
const h = createHarness("fuzzcli");
const started = performance.now();
try {
  const report = await fuzzHttp(h, Number(values.requests), seed);
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seed, seconds: Number(seconds.toFixed(1)), requests: report.requests, invalid: report.invalid, byStatus: report.byStatus, serverErrors: report.serverErrors.length, changedOn4xx: report.changedOn4xx.length, acceptedInvalid: report.acceptedInvalid.length }, null, 2));
  for (const line of [...report.serverErrors, ...report.changedOn4xx, ...report.acceptedInvalid].slice(0, 20)) console.error(`failure: ${line}`);
  process.exitCode = report.serverErrors.length + report.changedOn4xx.length + report.acceptedInvalid.length === 0 ? 0 : 1;
} finally {
  await h.close();
}
