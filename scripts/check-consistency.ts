// Watches a running deployment: every write committed while it runs, and when each service's cache
// reaches it. Reports the fraction consistent within 1 s, 5 s and at the end, the lags, and any
// version regression or entry left stale. Exit code 1 when it found a regression or a stale entry.
//   bun scripts/check-consistency.ts [--namespaces catalog,storefront] [--seconds 60] [--drain 30] [--json]
// --namespaces: the cache namespaces to watch; --seconds: how long to watch; --drain: how long to
// wait at the end for the caches to catch up; --json: the report as JSON.
// Reads DATABASE_URL, REDIS_URL (or REDIS_CLUSTER_NODES) and CACHE_KEY_PREFIX as the api does.
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import { formatReport, startConsistencyChecker } from "./lib/consistency-checker.ts";

function parse() {
  try {
    return parseArgs({
      options: { namespaces: { type: "string", default: "catalog,storefront" }, seconds: { type: "string", default: "60" }, drain: { type: "string", default: "30" }, json: { type: "boolean", default: false } },
    });
  } catch (err) {
    console.error(`check-consistency: ${(err as Error).message}\nusage: bun scripts/check-consistency.ts [--namespaces catalog,storefront] [--seconds 60] [--drain 30] [--json]  (--help for more)`);
    process.exit(2);
  }
}
const { values } = parse();
const checker = await startConsistencyChecker({
  databaseUrl: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/catalog",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379/0",
  redisClusterNodes: process.env.REDIS_CLUSTER_NODES ? process.env.REDIS_CLUSTER_NODES.split(",") : null,
  keyPrefix: process.env.CACHE_KEY_PREFIX ?? "cc",
  namespaces: values.namespaces!.split(","),
});
console.error(`watching for ${values.seconds} s…`);
await Bun.sleep(Number(values.seconds) * 1000);
const report = await checker.drain(Number(values.drain) * 1000);
await checker.stop();
console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
process.exit(report.ok ? 0 : 1);
