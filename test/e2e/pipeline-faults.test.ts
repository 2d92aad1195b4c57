// The pipeline under faults: processes killed with SIGKILL at the worst moments, two relays at
// once, and the broker restarted during writes. After each, every cache converges to the database,
// no cached version ever went back, and the topic holds every committed event.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ROOT } from "../support/processes.ts";
import { createPipeline, startSampler, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

let p: Pipeline;
let api: Awaited<ReturnType<Pipeline["startApi"]>>;

beforeAll(async () => {
  p = await createPipeline("faults");
  api = await p.startApi();
});
afterAll(() => p.close());

const startWriteLoad = (ids: readonly string[], concurrency = 4) => p.startWriteLoad(api.url, ids, concurrency);
const outboxRows = (ids: readonly string[]) => p.outboxRows(ids);
const createProducts = (label: string, n: number) => p.createProducts(api.url, label, n);
const expectConverged = (ids: readonly string[], namespaces: readonly string[], timeoutMs = 30_000) => p.converged(ids, namespaces, timeoutMs);
async function expectTopicMatchesEventStore(ids: readonly string[]) {
  const { mismatches, messages, events } = await p.topicAgainstEventStore(ids);
  expect(mismatches).toEqual([]);
  return { messages, events };
}

describe("when a consumer is killed with SIGKILL in the middle of a stream of writes and restarted", () => {
  test("then its cache converges to the database and no version ever went back", async () => {
    const relay = await p.startRelay();
    let consumer = await p.startConsumer("catalog", "rebuild");
    const ids = await createProducts("c", 15);
    const sampler = startSampler(p, ["catalog"], () => ids, 3);
    const load = startWriteLoad(ids);
    await waitFor(async () => (await p.cachedVersions("catalog", ids)).some((v) => (v ?? 0) >= 5), 15_000, "the stream to be under way");
    consumer.kill("SIGKILL");
    await consumer.exited;
    await load.more(20, "while the consumer is down");
    consumer = await p.startConsumer("catalog", "rebuild");
    await load.more(20, "after the consumer restarted");
    console.log(`consumer killed: ${await load.stop()} writes`);
    await expectConverged(ids, ["catalog"]);
    await sampler.stop();
    expect(sampler.regressions).toEqual([]);
    expect(sampler.samples()).toBeGreaterThan(10);
    relay.kill("SIGTERM");
    consumer.kill("SIGTERM");
    await Promise.all([relay.exited, consumer.exited]);
  });
});

describe("when the relay is killed between the broker's acknowledgement and marking the rows sent", () => {
  test("then the restarted relay publishes them again, the duplicate changes nothing, and no event is missing", async () => {
    const consumer = await p.startConsumer("catalog", "rebuild");
    const crashing = await p.startRelay({ RELAY_FAILPOINT: "crash-after-publish" });
    const ids = await createProducts("r", 3);
    expect(await crashing.exited).not.toBe(0); // it died by SIGKILL right after the publish
    const { rows } = await p.db.query("SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL AND product_id = ANY($1)", [ids]);
    expect(rows[0].n).toBe(3); // acknowledged by the broker, but not marked

    const relay = await p.startRelay();
    await waitFor(async () => {
      const r = await p.db.query("SELECT count(*)::int AS n FROM outbox WHERE sent_at IS NULL AND product_id = ANY($1)", [ids]);
      return r.rows[0].n === 0;
    }, 15_000, "the rows to be marked sent");
    await expectConverged(ids, ["catalog"]);
    const { messages, events } = await expectTopicMatchesEventStore(ids);
    expect(messages).toBeGreaterThan(events); // the duplicates really went out
    // The keys were empty (the api's write-through is off): the events went in as markers of version 1.
    expect(await Promise.all(ids.map((id) => p.cachedEntry("catalog", id)))).toEqual(ids.map(() => "1|m|"));
    relay.kill("SIGTERM");
    consumer.kill("SIGTERM");
    await Promise.all([relay.exited, consumer.exited]);
  });
});

describe("when two relays run at once and the leader is killed during writes", () => {
  test("then the standby takes over and no product's events are lost or reordered", async () => {
    const consumer = await p.startConsumer("catalog", "rebuild");
    const first = await p.startRelay();
    await waitFor(() => first.output().includes('"leader":true'), 10_000, "the first relay to lead");
    const second = await p.startRelay({ RELAY_POLL_MS: "100" });
    await waitFor(() => second.output().includes('"leader":false'), 10_000, "the second relay to stand by");
    const ids = await createProducts("t", 10);
    const load = startWriteLoad(ids);
    // The leader is relaying this writer's commits when it dies, and the writer goes on.
    await load.more(20, "before the kill");
    await waitFor(
      async () => {
        const rows = await outboxRows(ids);
        return rows.unsent < rows.total;
      },
      10_000,
      "the leader to have sent some of the writes",
    );
    first.kill("SIGKILL");
    await first.exited;
    await load.more(20, "after the leader died");
    await waitFor(() => second.output().includes('"leader":true'), 10_000, "the standby to take over");
    await load.more(20, "while the standby leads");
    console.log(`leader killed: ${await load.stop()} writes`);
    await expectConverged(ids, ["catalog"]);
    await expectTopicMatchesEventStore(ids);
    second.kill("SIGTERM");
    consumer.kill("SIGTERM");
    await Promise.all([second.exited, consumer.exited]);
  });
});

describe("when the Kafka broker restarts during writes", () => {
  test("then nothing is lost and the pipeline resumes by itself", async () => {
    const relay = await p.startRelay();
    const consumers = await Promise.all([p.startConsumer("catalog", "rebuild"), p.startConsumer("storefront", "evict")]);
    const ids = await createProducts("k", 10);
    const load = startWriteLoad(ids, 2);
    await load.more(20, "before the broker stops");
    const kafka = (cmd: string) => Bun.spawn(["bash", "scripts/kafka.sh", cmd], { cwd: ROOT, stdout: "ignore", stderr: "inherit" }).exited;
    expect(await kafka("stop")).toBe(0);
    // Writes go on (the api never needed Kafka) and wait in the outbox for the broker.
    await load.more(20, "while the broker is down");
    expect((await outboxRows(ids)).unsent).toBeGreaterThan(0);
    expect(await kafka("start")).toBe(0);
    await load.more(20, "after the broker is back");
    console.log(`broker restarted: ${await load.stop()} writes`);
    await expectConverged(ids, ["catalog", "storefront"], 60_000);
    await expectTopicMatchesEventStore(ids);
    for (const proc of [relay, ...consumers]) proc.kill("SIGTERM");
    await Promise.all([relay.exited, ...consumers.map((c) => c.exited)]);
  }, 120_000);
});
