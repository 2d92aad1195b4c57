// The pipeline on a three-node Kafka cluster (scripts/kafka-cluster.sh: KRaft, the event topic with
// three replicas and min.insync.replicas=2, the relay's producer idempotent with acks=all): the node
// that leads the most partitions of the event topic is killed with SIGKILL during writes. Required:
// no event lost, the pipeline resumes without a restart of any process, the cache converges, and
// no cached version goes back. The lag the kill caused is printed. The cluster runs on ports of its
// own (19092-19097), beside the single broker the other tests use.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { ROOT } from "../support/processes.ts";
import { createPipeline, startSampler, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

const clusterEnv = { ...process.env, KAFKA_CLUSTER_BASE_PORT: "19092", KAFKA_CLUSTER_DIR: resolve(ROOT, `.run/kafka-cluster-test-${process.pid}`) };
const cluster = async (...args: string[]) => {
  const proc = Bun.spawn(["bash", "scripts/kafka-cluster.sh", ...args], { cwd: ROOT, env: clusterEnv, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`kafka-cluster.sh ${args.join(" ")} exited ${code}: ${err || out}`);
  return out.trim();
};

let p: Pipeline;
let api: Awaited<ReturnType<Pipeline["startApi"]>>;

beforeAll(async () => {
  await cluster("start");
  p = await createPipeline("kc", { brokers: await cluster("brokers"), replicas: 3 });
  api = await p.startApi();
}, 180_000);
afterAll(async () => {
  await p?.close();
  await cluster("stop").catch(() => {});
  rmSync(clusterEnv.KAFKA_CLUSTER_DIR, { recursive: true, force: true });
});

test("a partition leader killed during writes: no event lost, the pipeline resumes, the cache converges and never goes back", async () => {
  await Promise.all([p.startRelay(), p.startConsumer("catalog", "rebuild")]);
  const ids = await p.createProducts(api.url, "k", 12);
  const sampler = startSampler(p, ["catalog"], () => ids, 3);
  const load = p.startWriteLoad(api.url, ids);
  await load.more(40, "before the kill");

  // The node leading the most partitions of the event topic.
  const leaders = (await cluster("leaders", p.topic)).split("\n").map((l) => l.split(" ")[1]!);
  const counts = new Map<string, number>();
  for (const l of leaders) counts.set(l, (counts.get(l) ?? 0) + 1);
  const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  const killedAt = performance.now();
  await cluster("kill", victim);
  await load.more(60, "after the kill");
  const total = await load.stop();

  // Everything committed reaches the topic and the cache, with no process restarted.
  await waitFor(async () => (await p.outboxRows(ids)).unsent === 0, 60_000, "the outbox to drain through the two live nodes");
  await p.converged(ids, ["catalog"], 60_000);
  const lagSeconds = (performance.now() - killedAt) / 1000;
  const { mismatches, messages, events } = await p.topicAgainstEventStore(ids);
  await sampler.stop();
  console.log(`kafka cluster: node ${victim} (leader of ${counts.get(victim)} of ${leaders.length} partitions) killed; ${total} writes, ${events} events, ${messages} messages; drained and converged ${lagSeconds.toFixed(1)} s after the kill`);
  expect(mismatches).toEqual([]);
  expect(sampler.regressions).toEqual([]);
  expect(events).toBeGreaterThan(100); // writes landed before and after the kill
  expect(messages).toBeGreaterThanOrEqual(events); // at least once: a batch retried after the kill may come twice
}, 240_000);
