// Cache hits on one Redis server against the same on a Redis Cluster, in the same run.
//   bun bench/redis-topology.ts [--rounds 3] [--seconds 5] [--connections 32]
// Two apis side by side, each with 1,000 products all cached: one on a Redis server of its own, one
// on the Redis Cluster of scripts/redis-cluster.sh (three masters, three replicas; started if it is
// not running). wrk reads random warm keys from each in turn, several rounds; medians of req/s, p50
// and p99. On a Cluster the api's client sends commands one by one (no auto-pipelining: see
// createRedisClient), and the six servers share the machine's cores with everything else.
import { parseArgs } from "node:util";
import { createPipeline } from "../test/support/pipeline.ts";
import { TEST_REDIS_CLUSTER_NODES } from "../test/support/redis-cluster.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";
import { median, randomPathsScript, wrk, type WrkResult } from "./lib/wrk.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "5" }, connections: { type: "string", default: "32" }, help: { type: "boolean", short: "h", default: false } },
});
if (values.help) {
  console.log("usage: bun bench/redis-topology.ts [--rounds 3] [--seconds 5] [--connections 32]\nCache hits on one Redis server vs a Redis Cluster, same run; medians of req/s, p50 and p99.");
  process.exit(0);
}
const PRODUCTS = 1000;
const paths = Array.from({ length: PRODUCTS }, (_, i) => `/products/${seededId(i + 1)}`);

const single = await startStack("topo1");
const cluster = await createPipeline("topoc", { redisClusterNodes: TEST_REDIS_CLUSTER_NODES });
try {
  const targets: { name: string; url: string }[] = [];
  for (const [name, p] of [
    ["one Redis server", single.pipeline],
    ["Redis Cluster (3 masters, 3 replicas)", cluster],
  ] as const) {
    await seedProducts(p.databaseUrl, PRODUCTS);
    const api = await p.startApi({ CACHE_WRITE_THROUGH: "true" });
    for (let i = 0; i < paths.length; i += 100) await Promise.all(paths.slice(i, i + 100).map((x) => fetch(api.url + x).then((r) => r.arrayBuffer())));
    // Every product a hit: the second read of each must say so.
    const check = await fetch(api.url + paths[0]);
    if (check.headers.get("x-cache") !== "hit") throw new Error(`${name}: a warm read was not a hit (${check.headers.get("x-cache")})`);
    targets.push({ name, url: api.url });
  }
  const opts = { seconds: Number(values.seconds), connections: Number(values.connections) };
  for (const t of targets) await wrk(t.url, { ...opts, seconds: 2, script: randomPathsScript(paths) }); // warm-up
  const results = new Map<string, WrkResult[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const t of targets) {
      const res = await wrk(t.url, { ...opts, script: randomPathsScript(paths) });
      if (res.non2xx) throw new Error(`${t.name}: ${res.non2xx} reads were not 200`);
      results.get(t.name)!.push(res);
    }
  }
  const rows = targets.map((t) => {
    const rs = results.get(t.name)!;
    return { redis: t.name, "hits req/s": Math.round(median(rs.map((x) => x.requestsPerSecond))), "p50 ms": median(rs.map((x) => x.p50)), "p99 ms": median(rs.map((x) => x.p99)) };
  });
  console.log(`\ncache hits, one Redis server vs a Redis Cluster, ${opts.connections} connections, ${opts.seconds} s × ${values.rounds} rounds each, ${new Date().toISOString()}, ${machine()}`);
  console.table(rows);
  console.log(`wrote ${writeResult("redis-topology", { options: opts, rows, rounds: Object.fromEntries(results) })}`);
} finally {
  await cluster.close();
  await single.close();
}
process.exit(0);
