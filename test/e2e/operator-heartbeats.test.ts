// The operator's view, item 1: consumer lag as a metric, and each process's heartbeat in Redis.
// Real PostgreSQL, Redis, Kafka broker and processes (the api on Bun, the relay and a consumer on
// Node 24). A backlog is made with the consumer stopped; the consumer then starts, shows the lag
// of each partition it consumed (in its heartbeat and on /metrics), drained, and when it last applied an event. The
// heartbeat keys expire after a SIGKILL (within their TTL) and are deleted at once after a SIGTERM.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { processKey } from "../../src/infra/cache-format.ts";
import { listProcesses } from "../../src/infra/heartbeat.ts";
import { createPipeline, type Pipeline } from "../support/pipeline.ts";
import { ROOT } from "../support/processes.ts";
import { waitFor } from "../support/services.ts";

const BEAT_MS = 300; // a TTL of 900 ms
const fast = { HEARTBEAT_INTERVAL_MS: String(BEAT_MS) };
const VERSION = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")).version as string;

let p: Pipeline;
beforeAll(async () => {
  p = await createPipeline("ops");
});
afterAll(() => p.close());

const metricsPort = (proc: { output(): string }) => Number(/"metricsPort":(\d+)/.exec(proc.output())![1]);
async function samples(proc: { output(): string }, name: string): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort(proc)}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} ([0-9.e+-]+)$`, "gm"))].map((m) => ({ labels: m[1]!, value: Number(m[2]) }));
}
const live = async (role: string) => (await listProcesses(p.redis, p.prefix)).filter((x) => x.role === role);

test("lag and last-applied time on a consumer's /metrics and heartbeat; every process's heartbeat, gone after SIGKILL (TTL) and SIGTERM (at once)", async () => {
  const testStart = Date.now();
  const [api, relay] = await Promise.all([p.startApi(fast), p.startRelay(fast)]);

  // The backlog: 20 products × 3 events, published by the relay while no consumer runs.
  const ids = await p.createProducts(api.url, "lag", 20);
  for (let round = 0; round < 2; round++) {
    await Promise.all(ids.map((id) => fetch(`${api.url}/products/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ priceCents: 10 + round }) })));
  }
  await waitFor(async () => (await p.outboxRows(ids)).unsent === 0, 20_000, "the relay to publish the backlog");

  // The api and the relay are listed while the consumer is not yet running.
  const [apiBeat] = await waitFor(async () => {
    const a = await live("api");
    return a.length === 1 ? a : null;
  }, 5000, "the api's heartbeat");
  expect(apiBeat).toMatchObject({ role: "api", namespace: "catalog", version: VERSION, pid: api.pid });
  const [relayBeat] = await waitFor(async () => {
    const r = await live("relay");
    return r.length === 1 && r[0]!.leader === true ? r : null;
  }, 5000, "the relay's heartbeat, as leader");
  expect(relayBeat).toMatchObject({ role: "relay", namespace: null, version: VERSION, pid: relay.pid, leader: true });
  for (const beat of [apiBeat!, relayBeat!]) {
    expect(beat.ttlMs).toBeGreaterThan(0);
    expect(beat.ttlMs).toBeLessThanOrEqual(3 * BEAT_MS);
    expect(Date.parse(beat.startedAt)).toBeGreaterThanOrEqual(testStart - 1000);
  }

  // The consumer starts on the backlog and drains it: each partition it consumed shows the lag its
  // latest batch left (src/usecases/consumer-lag.ts, unit-tested there), at most 1 once drained (a
  // transaction's commit marker after the last message).
  const consumer = await p.startConsumer("catalog", "rebuild", fast);
  await p.converged(ids, ["catalog"]);
  let lastLag: unknown = null;
  try {
    await waitFor(async () => {
      const lag = await samples(consumer, "catalog_consumer_lag_messages");
      lastLag = lag;
      return lag.length > 0 && lag.every((s) => s.value <= 1) ? lag : null;
    }, 15_000, "the lag on /metrics to drain on every partition consumed");
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(lastLag)}`);
  }
  const lag = await samples(consumer, "catalog_consumer_lag_messages");
  expect(lag.map((s) => s.labels).every((l) => /partition="\d"/.test(l) && /namespace="catalog"/.test(l))).toBe(true);

  const [applied] = await samples(consumer, "catalog_consumer_last_applied_timestamp_seconds");
  expect(applied!.value * 1000).toBeGreaterThan(testStart);
  expect(applied!.value * 1000).toBeLessThanOrEqual(Date.now());

  // A beat written before the last partitions' batches names only some of them: wait for one that
  // names every partition /metrics shows (the repeated e2e run of 04767b9 caught a beat with 2 of 6).
  const partitions = lag.map((s) => /partition="(\d)"/.exec(s.labels)![1]!).sort();
  const beat = await waitFor(async () => {
    const [c] = await live("consumer");
    const named = c?.lag ? Object.keys(c.lag.partitions).sort() : [];
    return c && c.lag && c.lag.total <= lag.length && c.lastAppliedAt && named.join() === partitions.join() ? c : null;
  }, 5000, "the consumer's heartbeat with the lag of every partition, drained");
  expect(beat).toMatchObject({ role: "consumer", instance: "catalog-1", namespace: "catalog", group: `${p.prefix}.catalog`, version: VERSION, pid: consumer.pid });
  expect(Object.keys(beat.lag!.partitions).sort()).toEqual(partitions);
  expect(Date.parse(beat.lastAppliedAt!)).toBeGreaterThan(testStart);
  expect(beat.ttlMs).toBeGreaterThan(0);
  expect(beat.ttlMs).toBeLessThanOrEqual(3 * BEAT_MS);

  // SIGKILL: nobody deletes the key; it expires within its TTL.
  const key = processKey(p.prefix, "consumer", "catalog-1");
  consumer.kill("SIGKILL");
  await consumer.exited;
  const killedAt = Date.now();
  await waitFor(async () => (await p.redis.exists(key)) === 0, 5000, "the killed consumer's heartbeat to expire");
  expect(Date.now() - killedAt).toBeLessThanOrEqual(3 * BEAT_MS + 200);

  // SIGTERM: deleted by the stop, before the process exits.
  for (const proc of [relay, api]) {
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }
  expect(await listProcesses(p.redis, p.prefix)).toEqual([]);
}, 60_000);
