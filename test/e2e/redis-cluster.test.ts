// The whole pipeline on a Redis Cluster (three masters, three replicas: scripts/redis-cluster.sh):
// two apis writing through, the relay, a rebuild and an evict consumer, and the consistency checker
// reading every key and every api's answers. A master is killed with SIGKILL during writes, right
// after its replica was cut off, so the promotion loses the last writes. Required: its replica
// takes over, writes go on with no process restarted, nothing older than the truth is served
// (0 regressions), and every cache converges (0 stale).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Cluster } from "ioredis";
import { startConsistencyChecker } from "../../scripts/lib/consistency-checker.ts";
import { keyLayout } from "../../src/infra/cache-format.ts";
import { createPipeline, type Pipeline } from "../support/pipeline.ts";
import { redisClusterScript, TEST_REDIS_CLUSTER_NODES } from "../support/redis-cluster.ts";
import { waitFor } from "../support/services.ts";

let p: Pipeline;
const apis: Awaited<ReturnType<Pipeline["startApi"]>>[] = [];

beforeAll(async () => {
  p = await createPipeline("rce", { redisClusterNodes: TEST_REDIS_CLUSTER_NODES });
  const apiEnv = { CACHE_WRITE_THROUGH: "true" };
  apis.push(...(await Promise.all([p.startApi(apiEnv), p.startApi(apiEnv)])));
  await Promise.all([p.startRelay({ RELAY_POLL_MS: "200" }), p.startConsumer("catalog", "rebuild"), p.startConsumer("storefront", "evict")]);
}, 120_000);
afterAll(async () => {
  await p?.close();
  // The killed node comes back empty and joins as a replica.
  for (const n of TEST_REDIS_CLUSTER_NODES) redisClusterScript("start-node", n.slice(n.lastIndexOf(":") + 1));
  redisClusterScript("wait", "60");
});

test("a Redis master killed during writes, with writes its replica never got: promoted, no regression, every cache converges", async () => {
  const ids = await p.createProducts(apis[0]!.url, "r", 24);
  const checker = await startConsistencyChecker({
    databaseUrl: p.databaseUrl,
    redisUrl: "",
    redisClusterNodes: TEST_REDIS_CLUSTER_NODES,
    keyPrefix: p.prefix,
    namespaces: ["catalog", "storefront"],
    http: [{ namespace: "catalog", urls: () => apis.map((a) => a.url) }],
  });
  // Writes alternate between the two apis.
  const load = [p.startWriteLoad(apis[0]!.url, ids, 2), p.startWriteLoad(apis[1]!.url, ids, 2)];
  const more = (n: number, what: string) => Promise.all(load.map((l) => l.more(n / 2, what)));
  await more(80, "before the kill");

  // The master holding the catalog entry of the first product; its replica stops and the master
  // drops the link, so what the master takes from now on is lost when it dies.
  const probe = p.redis as Cluster;
  const slot = Number(await probe.cluster("KEYSLOT", keyLayout(p.prefix, "catalog", true).entry(ids[0]!)));
  const slots = (await probe.cluster("SLOTS")) as unknown as [number, number, [string, number]][];
  const masterPort = slots.find(([from, to]) => slot >= from && slot <= to)![2][1];
  const replicaPort = Number(redisClusterScript("replica-of", String(masterPort)));
  const master = probe.nodes("master").find((n) => n.options.port === masterPort)!;
  const runDir = process.env.REDIS_CLUSTER_DIR ?? `${new URL("../..", import.meta.url).pathname}.run/redis-cluster`;
  const replicaPid = Number(await Bun.file(`${runDir}/${replicaPort}/redis.pid`).text());
  process.kill(replicaPid, "SIGSTOP");
  try {
    await master.call("CLIENT", "KILL", "TYPE", "replica");
    await more(40, "while the replica is cut off");
    checker.note(`kill -9 redis master :${masterPort}`);
    redisClusterScript("kill", String(masterPort));
  } finally {
    process.kill(replicaPid, "SIGCONT");
  }
  const killedAt = performance.now();
  await waitFor(
    async () => {
      const s = (await probe.cluster("SLOTS").catch(() => [])) as unknown as [number, number, [string, number]][];
      return s.find(([from, to]) => slot >= from && slot <= to)?.[2][1] === replicaPort;
    },
    30_000,
    "the replica to take over",
  );
  const promotedMs = performance.now() - killedAt;
  await more(120, "after the promotion");
  const totals = await Promise.all(load.map((l) => l.stop()));

  await waitFor(async () => (await p.outboxRows(ids)).unsent === 0, 60_000, "the outbox to drain");
  await p.converged(ids, ["catalog", "storefront"], 60_000);
  const report = await checker.drain(30_000);
  await checker.stop();
  // Every api answers the truth for every product.
  const latest = await p.latestVersions(ids);
  for (const api of apis) {
    for (const id of ids) {
      const r = await fetch(`${api.url}/products/${id}`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { version: number }).version).toBe(latest.get(id)!);
    }
  }
  const catalog = report.namespaces.find((n) => n.namespace === "catalog")!;
  console.log(
    `redis cluster: master :${masterPort} killed, replica :${replicaPort} promoted after ${(promotedMs / 1000).toFixed(1)} s; ` +
      `${totals.reduce((a, b) => a + b, 0)} writes; catalog ${catalog.writes} writes watched, within 1 s ${catalog.within1s}, p99 lag ${catalog.p99LagMs} ms, ` +
      `${catalog.httpReads} reads through the apis, ${catalog.weakened.length} weakened`,
  );
  for (const n of report.namespaces) {
    expect(n.regressions).toEqual([]);
    expect(n.stale).toEqual([]);
  }
  expect(catalog.httpReads).toBeGreaterThan(0);
  for (const api of apis) expect(api.exitCode).toBeNull();
}, 240_000);
