// Replay from the command line: the same job as POST /admin/replay, run in this process with a
// progress bar, against the database and Redis named by the environment (as the api reads it).
//   bun run replay                               every product, the api's namespace
//   bun run replay -- --ids a,b,c --namespace storefront
//   bun scripts/replay.ts [--ids a,b,c] [--namespace NAME] [--page-size 1000] [--quiet]   the same, directly
// Exit code 0 when the job completed without errors, 1 otherwise, 2 on bad arguments.
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import { SingleBar, Presets } from "cli-progress";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/infra/logger.ts";
import { createPrismaClient, createPrismaEventStore } from "../src/infra/prisma-event-store.ts";
import { createRedisCache, createRedisClient } from "../src/infra/redis-cache.ts";
import { createRedisJobStore } from "../src/infra/redis-jobs.ts";
import { isValidId } from "../src/catalog/product.ts";
import { CatalogError } from "../src/catalog/errors.ts";
import { createReplayRunner } from "../src/usecases/replay-jobs.ts";

let args;
try {
  args = parseArgs({
    options: { ids: { type: "string" }, namespace: { type: "string" }, "page-size": { type: "string", default: "1000" }, quiet: { type: "boolean", default: false } },
  }).values;
} catch (err) {
  console.error(`replay: ${(err as Error).message}\nusage: bun run replay [-- --ids a,b,c] [--namespace NAME] [--page-size N] [--quiet]`);
  process.exit(2);
}
const ids = args.ids?.split(",").map((s) => s.trim()).filter(Boolean);
if (ids?.some((id) => !isValidId(id))) {
  console.error("replay: --ids must be product ids separated by commas");
  process.exit(2);
}
if (args.namespace !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(args.namespace)) {
  console.error("replay: --namespace must be 1-32 of [A-Za-z0-9_-]");
  process.exit(2);
}

// The CLI needs no admin token: it talks to the database and Redis directly.
const config = loadConfig({ ...process.env, APP_ENV: "development" });
const logger = createLogger(args.quiet ? "warn" : "error", { process: "replay-cli" });
const prisma = createPrismaClient(config.databaseUrl);
const redis = createRedisClient(config, 5000, { enableOfflineQueue: true });
const runner = createReplayRunner({
  source: createPrismaEventStore(prisma),
  cacheFor: (namespace) => createRedisCache(redis, { ...config.cache, namespace }),
  jobs: createRedisJobStore(redis, config.cache.keyPrefix),
  logger,
  defaultNamespace: config.cache.namespace,
  pageSize: Number(args["page-size"]),
});

const bar = new SingleBar(
  { format: "replay [{bar}] {percentage}% | {value}/{total} products | {rate}/s | eta {eta_formatted} | repaired {repaired}", hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000 },
  Presets.shades_classic,
);
let barStarted = false;
let code = 0;
try {
  const { job, done } = await runner.start({ productIds: ids, namespace: args.namespace }, (j) => {
    if (args.quiet) return;
    const payload = { rate: j.ratePerSecond, repaired: j.snapshotsRepaired + j.cacheRepaired };
    if (!barStarted) {
      bar.start(Math.max(j.total, 1), j.processed, payload);
      barStarted = true;
    }
    bar.setTotal(Math.max(j.total, 1));
    bar.update(j.processed, payload);
  });
  if (!args.quiet) console.log(`job ${job.jobId} (${job.scope}, namespace ${job.namespace})`);
  const result = await done;
  if (barStarted) bar.stop();
  const { jobId, status, total, processed, missing, snapshotsRepaired, cacheWritten, cacheRepaired, cacheUnchanged, cacheNewer, errors, ratePerSecond, failure, errorSamples } = result;
  console.log(JSON.stringify({ jobId, status, total, processed, missing, snapshotsRepaired, cacheWritten, cacheRepaired, cacheUnchanged, cacheNewer, errors, ratePerSecond, failure }, null, 2));
  for (const e of errorSamples) console.error(`error: ${e.productId}: ${e.message}`);
  code = status === "completed" && errors === 0 ? 0 : 1;
} catch (err) {
  if (barStarted) bar.stop();
  if (err instanceof CatalogError) {
    console.error(`replay: ${err.message} (${JSON.stringify(err.details)})`);
    code = 1;
  } else throw err;
} finally {
  redis.disconnect();
  await prisma.$disconnect();
}
process.exit(code);
