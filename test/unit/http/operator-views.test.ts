// The console's process list and per-namespace summary (src/http/operator.ts), on a clock the test moves.
import { expect, test } from "bun:test";
import type { LiveProcess } from "../../../src/infra/heartbeat.ts";
import { processTracker, summarizeNamespaces } from "../../../src/http/operator.ts";

const proc = (role: LiveProcess["role"], instance: string, namespace: string | null, at: number, extra: Partial<LiveProcess> = {}): LiveProcess => ({
  role,
  instance,
  namespace,
  version: "0.1.0",
  pid: 1,
  host: "h",
  startedAt: new Date(0).toISOString(),
  at: new Date(at).toISOString(),
  key: `p:procs:${role}:${instance}`,
  ttlMs: 3000,
  ...extra,
});

test("alive while beating, late after two missed intervals, dead once its heartbeat is gone, forgotten after 10 min", () => {
  let now = 100_000;
  const track = processTracker(1000, () => now);
  const a = proc("api", "a", "catalog", now);
  const c = proc("consumer", "c", "catalog", now);
  expect(track([a, c]).map((p) => [p.instance, p.status])).toEqual([["a", "alive"], ["c", "alive"]]);
  now += 2500; // a's key still there, its last beat 2.5 intervals old
  expect(track([a, { ...c, at: new Date(now).toISOString() }]).map((p) => [p.instance, p.status])).toEqual([["a", "late"], ["c", "alive"]]);
  now += 1000; // a's key expired
  const views = track([{ ...c, at: new Date(now).toISOString() }]);
  expect(views.map((p) => [p.instance, p.status, p.ttlMs])).toEqual([["a", "dead", 0], ["c", "alive", 3000]]);
  expect(views[0]!.lastSeenAgoMs).toBe(3500);
  now += 10 * 60_000 + 1;
  expect(track([]).map((p) => p.instance)).toEqual([]);
});

test("per namespace: hit ratio and refused fills over the live readers; lag summed and p99 the worst of its consumers; dead ones left out", () => {
  const t = 0;
  const views = processTracker(1000, () => t)([
    proc("api", "a1", "catalog", t, { cache: { hits: 90, misses: 10, fillsApplied: 10, fillsRefused: 1 } }),
    proc("api", "a2", "catalog", t, { cache: { hits: 9, misses: 1, fillsApplied: 1, fillsRefused: 0 } }),
    proc("consumer", "c1", "catalog", t, { lag: { total: 3, partitions: { "0": 3 }, at: "" }, commitToCache: { p99Ms: 20, samples: 5 }, lastAppliedAt: "2026-11-29T12:00:01.000Z" }),
    proc("consumer", "c2", "catalog", t, { lag: { total: 2, partitions: { "1": 2 }, at: "" }, commitToCache: { p99Ms: 35, samples: 5 }, lastAppliedAt: "2026-11-29T12:00:02.000Z" }),
    proc("consumer", "s1", "storefront", t, { lag: null }),
    proc("relay", "r", null, t, { leader: true }),
  ]);
  const [catalog, other, storefront] = summarizeNamespaces(["catalog", "other"], views);
  expect(catalog).toEqual({ namespace: "catalog", readers: 2, hits: 99, misses: 11, hitRatio: 0.9, fillsRefused: 1, consumers: 2, lag: 5, commitToCacheP99Ms: 35, lastAppliedAt: "2026-11-29T12:00:02.000Z" });
  expect(other).toMatchObject({ namespace: "other", readers: 0, hitRatio: null, consumers: 0, lag: null, commitToCacheP99Ms: null });
  expect(storefront).toMatchObject({ namespace: "storefront", consumers: 1, lag: null });
});
