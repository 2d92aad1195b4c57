// The HTTP fuzzer in full form: `bun scripts/fuzz-http.ts [--requests 20000] [--seed N]`.
// Builds the api in-process against TEST_DATABASE_URL and TEST_REDIS_URL (as the tests do) and
// serves it on a loopback port for the classes that need a real connection. `--requests` is the
// number of units (a pipelined unit holds several requests). Fails on any 5xx, any invalid request
// accepted, any change made by a refused or unfinished request, a dropped id, or a connection left
// hanging. Prints the seed first and, per class, the statuses and the latency of the refusals.
// See test/support/http-fuzzer.ts.
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import { createHarness } from "../test/support/harness.ts";
import { fuzzHttp, quantile } from "../test/support/http-fuzzer.ts";

const { values } = parseArgs({ options: { requests: { type: "string", default: "20000" }, seed: { type: "string" } } });
const seed = Number(values.seed ?? Date.now());
console.log(`fuzz seed ${seed} (repeat with --seed ${seed})`);
const h = createHarness("fuzzcli");
const started = performance.now();
try {
  const report = await fuzzHttp(h, Number(values.requests), seed);
  const seconds = (performance.now() - started) / 1000;
  const ms = (v: number) => (Number.isNaN(v) ? null : Number(v.toFixed(2)));
  const allRefused = Object.values(report.byClass).flatMap((c) => c.refusedMs).sort((a, b) => a - b);
  const classes = Object.fromEntries(
    Object.entries(report.byClass).map(([cls, c]) => [
      cls,
      { units: c.units, requests: c.requests, byStatus: c.byStatus, unanswered: c.unanswered, refusedP50Ms: ms(quantile(c.refusedMs, 0.5)), refusedP99Ms: ms(quantile(c.refusedMs, 0.99)), refusedMaxMs: ms(c.refusedMs.at(-1) ?? NaN) },
    ]),
  );
  console.log(
    JSON.stringify(
      {
        seed,
        seconds: Number(seconds.toFixed(1)),
        units: report.units,
        requests: report.requests,
        invalid: report.invalid,
        byStatus: report.byStatus,
        refused: { count: allRefused.length, p50Ms: ms(quantile(allRefused, 0.5)), p99Ms: ms(quantile(allRefused, 0.99)), maxMs: ms(allRefused.at(-1) ?? NaN) },
        pipelineUnanswered: report.pipelineUnanswered,
        serverErrors: report.serverErrors.length,
        changedOn4xx: report.changedOn4xx.length,
        acceptedInvalid: report.acceptedInvalid.length,
        broken: report.broken.length,
        classes,
      },
      null,
      2,
    ),
  );
  const failures = [...report.serverErrors, ...report.changedOn4xx, ...report.acceptedInvalid, ...report.broken];
  for (const line of failures.slice(0, 30)) console.error(`failure: ${line}`);
  process.exitCode = failures.length === 0 ? 0 : 1;
} finally {
  await h.close();
}
