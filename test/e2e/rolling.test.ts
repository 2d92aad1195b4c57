// Several instances of the same process, killed or restarted one by one under writes (issue 11,
// item 4 on the single broker): two consumers of one group, each killed with SIGKILL in turn (its
// partitions move to the other once its session times out), and two apis restarted one at a time
// while a client spreads its writes over both. Each time: every write acknowledged, the topic holds
// every event in per-product order, the cache converges, and no cached version goes back. After
// the partitions moved and came back, each one's lag is on one member's gauge only.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPipeline, http, startSampler, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

let p: Pipeline;
beforeAll(async () => {
  p = await createPipeline("roll");
});
afterAll(() => p.close());

test("two consumers of one group killed in turn: partitions move, order per product holds, nothing is lost", async () => {
  const api = await p.startApi();
  await p.startRelay();
  // Short sessions, so a dead member's partitions move within seconds (the default is 30 s).
  const member = (n: number) => p.startConsumer("catalog", "rebuild", { CONSUMER_INSTANCE_ID: `catalog-${n}`, KAFKA_SESSION_TIMEOUT_MS: "6000" });
  let [a, b] = await Promise.all([member(1), member(2)]);
  const ids = await p.createProducts(api.url, "c", 24);
  const sampler = startSampler(p, ["catalog"], () => ids, 3);
  const load = p.startWriteLoad(api.url, ids);
  await load.more(40, "with both consumers");
  // The partitions on each member's lag gauge (catalog_consumer_lag_messages).
  const owned = async (proc: { output(): string }) => {
    const port = Number(/"metricsPort":(\d+)/.exec(proc.output())![1]);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return [...text.matchAll(/^catalog_consumer_lag_messages\{[^}]*partition="(\d+)"[^}]*\} /gm)].map((m) => Number(m[1]));
  };
  const firstOwned = await waitFor(async () => {
    const now = await owned(a);
    return now.length > 0 ? now : null;
  }, 30_000, "consumer 1 to report the lag of a partition");
  a.kill("SIGKILL");
  await a.exited;
  await load.more(60, "with consumer 1 dead");
  // Consumer 1's session times out and its partitions move to consumer 2, which consumes them.
  await waitFor(async () => (await owned(b)).some((x) => firstOwned.includes(x)), 60_000, "consumer 2 to consume a partition of consumer 1's");
  a = await member(1);
  await load.more(40, "with both again");
  // The rebalance gave some back to consumer 1. Each member's gauge then names only its own
  // partitions (none twice across the group), so a sum over the group counts each once.
  let seen: number[][] = [];
  await waitFor(
    async () => {
      seen = [await owned(a), await owned(b)];
      return seen[0]!.length > 0 && seen[1]!.length > 0 && !seen[0]!.some((x) => seen[1]!.includes(x));
    },
    30_000,
    "each partition's lag reported by one member only",
  ).catch((err: Error) => {
    throw new Error(`${err.message}; partitions on consumer 1's gauge: ${seen[0]}, on consumer 2's: ${seen[1]}`);
  });
  b.kill("SIGKILL");
  await b.exited;
  await load.more(60, "with consumer 2 dead");
  await load.stop();
  await p.converged(ids, ["catalog"], 60_000);
  const { mismatches } = await p.topicAgainstEventStore(ids);
  await sampler.stop();
  expect(mismatches).toEqual([]);
  expect(sampler.regressions).toEqual([]);
  api.kill("SIGTERM");
  a.kill("SIGTERM");
}, 180_000);

test("two apis restarted one at a time while a client writes through both: every write acknowledged, nothing lost or reordered", async () => {
  const start = () => p.startApi({ CACHE_WRITE_THROUGH: "true" });
  const apis = [await start(), await start()];
  await p.startConsumer("storefront", "evict", { CONSUMER_INSTANCE_ID: "storefront-roll" });
  const ids = await p.createProducts(apis[0]!.url, "a", 12);
  const sampler = startSampler(p, ["catalog", "storefront"], () => ids, 3);
  // The client: each write to one api, or to the other when the first refuses the connection (a
  // PATCH of an absolute price is safe to send again).
  let n = 0;
  let acknowledged = 0;
  let running = true;
  const client = (async () => {
    while (running) {
      const i = n++;
      const body = { priceCents: i + 2 };
      const path = `/products/${ids[i % ids.length]!}`;
      for (let attempt = 0; ; attempt++) {
        const target = apis[(i + attempt) % 2]!;
        try {
          const r = await http(target.url, "PATCH", path, body);
          expect(r.status).toBe(200);
          acknowledged++;
          break;
        } catch (err) {
          if (attempt > 20 || !/ECONNREFUSED|ConnectionRefused|socket|closed/i.test(String(err))) throw err;
        }
      }
    }
  })();
  const more = async (k: number, what: string) => {
    const target = acknowledged + k;
    await waitFor(() => acknowledged >= target, 30_000, `${k} more writes ${what}`);
  };
  await more(30, "through both apis");
  for (const which of [0, 1]) {
    apis[which]!.kill("SIGTERM"); // drains its requests, then exits 0
    expect(await apis[which]!.exited).toBe(0);
    await more(30, `with api ${which + 1} down`);
    apis[which] = await start();
    await more(30, `with api ${which + 1} back`);
  }
  running = false;
  await client;
  await p.converged(ids, ["catalog", "storefront"], 60_000);
  const { mismatches } = await p.topicAgainstEventStore(ids);
  await sampler.stop();
  expect(mismatches).toEqual([]);
  expect(sampler.regressions).toEqual([]);
}, 180_000);
