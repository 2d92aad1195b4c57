// One consumer against two in one consumer group: how fast they drain a backlog, and the lag they
// keep under a steady write rate, in the same run.
//   bun bench/consumers.ts [--events 600000] [--products 1000] [--rate 500] [--live-seconds 20]
//                          [--configs 1,2]
// After scripts/setup.sh (PostgreSQL, Redis and the single Kafka broker running).
//
// An isolated pipeline (its own database, Redis server, topic of 6 partitions) with the real
// processes: the api (write-through off), the relay and rebuild consumers (Node 24).
//  1. Backlog, with no consumer running: --products products created and patched once through the
//     api, then --events more ProductUpdated events generated in SQL from those real envelopes
//     (see generateBacklog); the real relay publishes all of them to the topic.
//  2. For each configuration (1, then 2 consumers): a new consumer group and cache namespace, so
//     each starts from the first offset of the same topic. The members are started together and
//     the bench samples every 100 ms the events they have handled (catalog_consumer_events_total)
//     until the namespace holds every product's latest version (drained). Reported: the time from
//     launch to the first handled event (process start and group join), from launch to drained,
//     events/s from the first event to drained and between 10 % and 90 % of the backlog, the
//     events/s from the moment every member had handled an event (two members started together
//     first form a group of one: the second joins on the first one's next heartbeat, about 3 s
//     later, and the partitions are split then) to drained, each member's share, and events handled
//     twice (a rebalance hands over partitions whose offsets were not committed yet). The namespace starts empty, so the rebuild consumer writes each
//     event's version as a marker (one compare-and-set call per event, as for a state).
//  3. Live: with the same members, --rate PATCHes/s through the api, open loop, for
//     --live-seconds. Every 100 ms the lag is the events the relay has published (acknowledged by
//     Kafka) since the phase began minus the events the group has handled since then: the
//     members' position, not their committed offsets (committed every second). Reported: its
//     median, p99 and maximum, and how long after the last write the namespace held every
//     product's latest version.
// The second configuration's backlog also holds the first one's live writes, so the event counts
// of the drains differ a little; compare events/s. Everything, the load generator included, shares
// the machine's cores. Prints tables and writes bench/results/consumers-*.json.
import os from "node:os";
import { parseArgs } from "node:util";
import { createPipeline, openLoopWrites, quantile, type Pipeline } from "../test/support/pipeline.ts";
import type { Proc } from "../test/support/processes.ts";
import { waitFor } from "../test/support/services.ts";
import { startSpareRedis } from "../test/support/spare-redis.ts";
import { cpuMeter } from "./lib/cpu.ts";
import { counter, machine, writeResult } from "./lib/stack.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    events: { type: "string", default: "600000" },
    products: { type: "string", default: "1000" },
    rate: { type: "string", default: "500" },
    "live-seconds": { type: "string", default: "20" },
    configs: { type: "string", default: "1,2" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help || positionals.length) {
  console.log(`bun bench/consumers.ts [options]: 1 vs 2 rebuild consumers in one group: backlog drain rate and live lag
  --events N        events of the backlog, generated while no consumer runs (default 600000;
                    rounded up to a multiple of --products)
  --products N      products (default 1000)
  --rate N          writes/s through the api in the live phase, open loop (default 500)
  --live-seconds S  length of the live phase (default 20; 0 skips it)
  --configs LIST    consumers per group to measure, in this order (default 1,2; the topic has 6 partitions)
After scripts/setup.sh (the single Kafka broker running). Run under flock /tmp/e2e.lock on a shared machine.`);
  process.exit(values.help ? 0 : 2);
}
const PRODUCTS = Number(values.products);
const BACKLOG = Number(values.events);
const RATE = Number(values.rate);
const LIVE_SECONDS = Number(values["live-seconds"]);
const CONFIGS = values.configs.split(",").map(Number);

const metricsUrl = (proc: Proc) => `http://127.0.0.1:${/"metricsPort":(\d+)/.exec(proc.output())![1]}`;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round1 = (x: number) => Math.round(x * 10) / 10;
const consumerCores = (cores: Record<string, number>) => Number(sum(Object.entries(cores).filter(([name]) => name.startsWith("consumer")).map(([, c]) => c)).toFixed(2));

async function eventCount(p: Pipeline): Promise<number> {
  return (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM events")).rows[0]!.n;
}

/**
 * `perProduct` more ProductUpdated events for each product, in one transaction shaped like the
 * api's: event rows, the snapshot rows moved to the last version, and outbox rows whose payload is
 * the product's latest real envelope (written by the api) with a new event id, version, time and
 * price, and the state after the event. Outbox ids follow each product's versions. Returns the
 * number of events.
 */
async function generateBacklog(p: Pipeline, ids: readonly string[], perProduct: number): Promise<number> {
  const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const db = await p.db.connect();
  try {
    await db.query("BEGIN");
    await db.query(
      `CREATE TEMP TABLE backlog ON COMMIT DROP AS
       SELECT t.product_id, t.version + i AS version, i, gen_random_uuid() AS event_id,
              date_trunc('milliseconds', now()) + i * interval '1 millisecond' AS at, 1000 + i AS price, t.payload
         FROM (SELECT DISTINCT ON (product_id) product_id, version, payload FROM outbox
                WHERE product_id = ANY($1) ORDER BY product_id, version DESC) t,
              generate_series(1, $2::int) AS i`,
      [ids, perProduct],
    );
    await db.query(
      `INSERT INTO events (event_id, product_id, version, type, schema_version, data, metadata, occurred_at)
       SELECT event_id, product_id, version, 'ProductUpdated', 1, jsonb_build_object('priceCents', price), '{}', at
         FROM backlog ORDER BY i, product_id`,
    );
    const { rowCount } = await db.query(
      `INSERT INTO outbox (event_id, product_id, version, payload)
       SELECT event_id, product_id, version,
              payload || jsonb_build_object('eventId', event_id::text, 'version', version, 'occurredAt', ${iso("at")},
                                            'data', jsonb_build_object('priceCents', price),
                                            'state', (payload -> 'state') || jsonb_build_object('priceCents', price, 'version', version, 'updatedAt', ${iso("at")}))
         FROM backlog ORDER BY i, product_id`,
    );
    await db.query(
      `UPDATE product_snapshots s SET version = b.version, price_cents = b.price, updated_at = b.at
         FROM (SELECT DISTINCT ON (product_id) product_id, version, price, at FROM backlog ORDER BY product_id, version DESC) b
        WHERE s.id = b.product_id`,
    );
    await db.query("SELECT pg_notify('catalog_outbox', '')");
    await db.query("COMMIT");
    return rowCount ?? 0;
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    db.release();
  }
}

const loadAtStart = os.loadavg().map((x) => x.toFixed(2)).join(" "); // other work on the machine makes the numbers noisy
const redisServer = await startSpareRedis({ persistent: false });
const p = await createPipeline("consumers", { redisUrl: redisServer.url });
try {
  const [api, relay] = await Promise.all([p.startApi(), p.startRelay()]);
  const relayUrl = metricsUrl(relay);
  const published = () => counter(relayUrl, "catalog_relay_published_total");
  // Redis (this bench's own server) and the Kafka broker (scripts/kafka.sh's), for the CPU columns.
  const servicePids: Record<string, number> = { redis: Number(/process_id:(\d+)/.exec(await p.redis.info("server"))?.[1]) };
  const brokerPid = Number(await Bun.file(".run/kafka/kafka.pid").text().catch(() => ""));
  if (brokerPid) servicePids.broker = brokerPid;
  const send = (method: string, path: string, body: unknown) =>
    fetch(api.url + path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => {
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    });

  // 1. The backlog, with no consumer running.
  const tBacklog = performance.now();
  const ids = Array.from({ length: PRODUCTS }, (_, i) => `${p.prefix}-c${i}`);
  for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => send("POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" })));
  for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => send("PATCH", `/products/${id}`, { priceCents: 2 })));
  const generated = await generateBacklog(p, ids, Math.max(1, Math.ceil(BACKLOG / PRODUCTS)));
  const generatedSeconds = (performance.now() - tBacklog) / 1000;
  await waitFor(async () => (await p.outboxRows(ids)).unsent === 0, 240_000, "the relay to publish the backlog");
  const publishedSeconds = (performance.now() - tBacklog) / 1000;
  const backlog = { events: await eventCount(p), generated, generatedSeconds: round1(generatedSeconds), publishedSeconds: round1(publishedSeconds), published: await published() };
  console.log(`backlog: ${backlog.events} events in the topic (${generated} generated in SQL), all published ${backlog.publishedSeconds} s after the start`);
  if (backlog.published !== backlog.events) throw new Error(`the relay published ${backlog.published} messages for ${backlog.events} events`);

  const drains: Record<string, number | string>[] = [];
  const lives: Record<string, unknown>[] = [];
  for (const k of CONFIGS) {
    // 2. Drain: a new group and namespace, k members started together.
    const namespace = `drain${k}`;
    const total = await eventCount(p); // every event is in the topic (the outbox is empty)
    const latest = await p.latestVersions(ids);
    const want = JSON.stringify(ids.map((id) => latest.get(id)));
    const converged = async () => JSON.stringify(await p.cachedVersions(namespace, ids)) === want;

    const t0 = performance.now();
    const consumers = await Promise.all(Array.from({ length: k }, (_, i) => p.startConsumer(namespace, "rebuild", { CONSUMER_INSTANCE_ID: `${namespace}-${i + 1}` })));
    const tStarted = performance.now();
    const urls = consumers.map(metricsUrl);
    const handled = () => Promise.all(urls.map((u) => counter(u, "catalog_consumer_events_total")));
    const pids = { ...Object.fromEntries(consumers.map((c, i) => [`consumer${i + 1}`, c.pid])), ...servicePids };
    const samples: { t: number; handled: number }[] = [];
    let tFirst: number | null = null;
    let cpu: ReturnType<typeof cpuMeter> | null = null;
    const memberFirst: (number | null)[] = consumers.map(() => null); // when each member handled its first event
    let allActive: { t: number; handled: number } | null = null;
    for (;;) {
      const per = await handled();
      const n = sum(per);
      const now = performance.now();
      samples.push({ t: now - t0, handled: n });
      if (tFirst === null && n > 0) {
        tFirst = now;
        cpu = cpuMeter(pids); // from the first event on: start-up is not counted
      }
      per.forEach((m, i) => {
        if (m > 0 && memberFirst[i] === null) memberFirst[i] = now;
      });
      if (!allActive && memberFirst.every((x) => x !== null)) allActive = { t: now, handled: n };
      if (await converged()) break;
      if (now - t0 > 240_000) throw new Error(`${k} consumer(s) did not drain ${total} events in 240 s (handled ${n})`);
      await Bun.sleep(100);
    }
    const tDone = performance.now();
    const usage = (cpu ?? cpuMeter(pids)).stop();
    const perMember = await handled();
    const deadLettered = sum(await Promise.all(urls.map((u) => counter(u, "catalog_consumer_events_total", 'outcome="dead_lettered"'))));
    if (deadLettered) throw new Error(`${deadLettered} events of the backlog were dead-lettered (see .run/test-logs/${p.prefix}-*)`);
    const crossing = (fraction: number) => samples.find((s) => s.handled >= fraction * total)?.t ?? NaN;
    const drain = {
      consumers: k,
      events: total,
      firstEventSeconds: round1(((tFirst ?? tDone) - t0) / 1000),
      startedSeconds: round1((tStarted - t0) / 1000),
      drainedSeconds: round1((tDone - t0) / 1000),
      eventsPerSecond: Math.round(total / ((tDone - (tFirst ?? t0)) / 1000)),
      // From the moment every member had handled an event (after the group's rebalance) to drained.
      allActiveSeconds: allActive ? round1(allActive.t / 1000 - t0 / 1000) : NaN,
      allActiveEventsPerSecond: allActive && tDone > allActive.t ? Math.round((total - allActive.handled) / ((tDone - allActive.t) / 1000)) : NaN,
      steadyEventsPerSecond: Math.round((0.8 * total) / ((crossing(0.9) - crossing(0.1)) / 1000)),
      perMember: perMember.join(" / "),
      handledTwice: sum(perMember) - total,
      consumerCores: consumerCores(usage.cores),
      redisCores: Number(usage.cores.redis!.toFixed(2)),
      brokerCores: servicePids.broker ? Number(usage.cores.broker!.toFixed(2)) : NaN,
      busyPercent: Math.round(usage.busy * 100),
    };
    drains.push(drain);
    console.log("drain", drain);

    // 3. Live: the same members under a steady write rate.
    if (LIVE_SECONDS > 0) {
      const pub0 = await published();
      const handled0 = sum(await handled());
      const lags: number[] = [];
      const lagTimes: number[] = []; // ms since the phase began, per sample
      const tLive = performance.now();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const [pub, per] = await Promise.all([published(), handled()]);
          lags.push(Math.max(0, pub - pub0 - (sum(per) - handled0)));
          lagTimes.push(Math.round(performance.now() - tLive));
          await Bun.sleep(100);
        }
      })();
      const liveCpu = cpuMeter(pids);
      const { acks, elapsed, late } = await openLoopWrites(api.url, ids, RATE, RATE * LIVE_SECONDS);
      const tLast = performance.now();
      const liveLatest = await p.latestVersions(ids);
      const liveWant = JSON.stringify(ids.map((id) => liveLatest.get(id)));
      await waitFor(async () => JSON.stringify(await p.cachedVersions(namespace, ids)) === liveWant, 60_000, "the namespace to converge after the live writes");
      const caughtUp = performance.now() - tLast;
      const liveUsage = liveCpu.stop();
      sampling = false;
      await sampler;
      const sorted = [...lags].sort((a, b) => a - b);
      const live = {
        consumers: k,
        targetRate: RATE,
        achievedRate: Math.round(acks.length / elapsed),
        writes: acks.length,
        lateStarts: late,
        lagSamples: lags.length,
        lagP50: quantile(sorted, 0.5),
        lagP99: quantile(sorted, 0.99),
        lagMax: sorted.at(-1) ?? NaN,
        lagMaxAtSeconds: round1((lagTimes[lags.indexOf(sorted.at(-1) ?? -1)] ?? NaN) / 1000),
        lagTimeline: lags.map((l, i) => [lagTimes[i], l]),
        convergedAfterLastWriteMs: Math.round(caughtUp),
        consumerCores: consumerCores(liveUsage.cores),
        redisCores: Number(liveUsage.cores.redis!.toFixed(2)),
        busyPercent: Math.round(liveUsage.busy * 100),
      };
      lives.push(live);
      console.log("live", { ...live, lagTimeline: `${live.lagTimeline.length} samples (in the JSON)` });
    }
    for (const c of consumers) c.kill("SIGTERM");
    await Promise.all(consumers.map((c) => c.exited));
  }

  console.log(`\n1 vs 2 rebuild consumers in one group (topic of 6 partitions, ${PRODUCTS} products), ${new Date().toISOString()}, ${machine()}; load average at the start ${loadAtStart}`);
  console.log(`backlog: ${backlog.events} events, published before any consumer started`);
  console.table(
    drains.map((d) => ({
      consumers: d.consumers,
      events: d.events,
      "first event s": d.firstEventSeconds,
      "drained s": d.drainedSeconds,
      "events/s": d.eventsPerSecond,
      "10-90 % events/s": d.steadyEventsPerSecond,
      "all members active s": d.allActiveSeconds,
      "events/s after": d.allActiveEventsPerSecond,
      "per member": d.perMember,
      "handled twice": d.handledTwice,
      "consumer cores": d.consumerCores,
      "redis cores": d.redisCores,
      "broker cores": d.brokerCores,
      "cores busy %": d.busyPercent,
    })),
  );
  if (lives.length) {
    console.log(`live: ${RATE} writes/s through the api for ${LIVE_SECONDS} s; lag in events (published by the relay, not yet handled), sampled every 100 ms`);
    console.table(
      lives.map((l) => ({
        consumers: l.consumers,
        "writes/s": l.achievedRate,
        writes: l.writes,
        "lag p50": l.lagP50,
        "lag p99": l.lagP99,
        "lag max": l.lagMax,
        "max at s": l.lagMaxAtSeconds,
        "converged after last write ms": l.convergedAfterLastWriteMs,
        "consumer cores": l.consumerCores,
        "redis cores": l.redisCores,
        "cores busy %": l.busyPercent,
      })),
    );
  }
  console.log(`wrote ${writeResult("consumers", { options: values, loadAtStart, backlog, drains, lives })}`);
} finally {
  await p.close();
  await redisServer.dispose();
}
process.exit(0);
