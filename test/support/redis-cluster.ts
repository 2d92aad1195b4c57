// The Redis Cluster of the tests: three masters and three replicas (scripts/redis-cluster.sh, ports
// 7000-7005 unless REDIS_CLUSTER_BASE_PORT says otherwise). Started on first use when this machine
// runs it; TEST_REDIS_CLUSTER_NODES points the tests at a cluster run elsewhere instead.
import { spawnSync } from "node:child_process";
import { Cluster } from "ioredis";
import { keyLayout } from "../../src/infra/cache-format.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const base = Number(process.env.REDIS_CLUSTER_BASE_PORT ?? 7000);
export const TEST_REDIS_CLUSTER_NODES = (process.env.TEST_REDIS_CLUSTER_NODES ?? [0, 1, 2, 3, 4, 5].map((i) => `127.0.0.1:${base + i}`).join(",")).split(",");

/** scripts/redis-cluster.sh with these arguments; throws with its output when it fails. */
export function redisClusterScript(...args: string[]): string {
  const r = spawnSync("bash", [`${ROOT}scripts/redis-cluster.sh`, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`scripts/redis-cluster.sh ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

export function ensureRedisCluster() {
  if (!process.env.TEST_REDIS_CLUSTER_NODES) redisClusterScript("start");
}

export function testRedisCluster(): Cluster {
  ensureRedisCluster();
  const seeds = TEST_REDIS_CLUSTER_NODES.map((n) => ({ host: n.slice(0, n.lastIndexOf(":")), port: Number(n.slice(n.lastIndexOf(":") + 1)) }));
  return new Cluster(seeds, { redisOptions: { maxRetriesPerRequest: 1 } });
}

/** Deletes every key under a prefix on every master (SCAN on each; a Cluster has no global SCAN). */
export async function deleteClusterKeys(cluster: Cluster, prefix: string) {
  for (const node of cluster.nodes("master")) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
      for (const k of keys) await cluster.del(k); // keys of many slots: one at a time
      cursor = next;
    } while (cursor !== "0");
  }
}

/** What a failover that kept the data does to a namespace's fences: the run_id is another server's. */
export async function foreignFences(client: { get(k: string): Promise<string | null>; set(k: string, v: string): Promise<unknown> }, prefix: string, namespace: string, cluster: boolean) {
  for (const f of keyLayout(prefix, namespace, cluster).fences) {
    const raw = await client.get(f);
    if (raw) await client.set(f, `${raw.slice(0, raw.indexOf("|"))}|0badc0de`);
  }
}
