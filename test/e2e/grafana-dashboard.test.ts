// The Grafana dashboard (docs/grafana/catalog-cache.json) against what the processes really export:
// every metric and label a panel's PromQL names must be in the scrape of a running api, storefront,
// relay or consumer. Real PostgreSQL, Redis, Kafka broker and processes (the api on Bun, the relay and the
// consumers on Node 24). The test first makes every labelled series the panels use exist: writes,
// reads (misses, hits, near-cache counts), a replay, poison messages (dead letters), and a read
// while the api's Redis is stalled (a fallback).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createPipeline, http, kafkaTool, type Pipeline } from "../support/pipeline.ts";
import { ROOT } from "../support/processes.ts";
import { TEST_REDIS_URL, waitFor } from "../support/services.ts";
import { startTcpProxy } from "../support/tcp-proxy.ts";

const TOKEN = "grafana-test-admin-token-0123";
/** Labels Prometheus itself attaches to every scraped series (the scrape job and target). */
const TARGET_LABELS = ["job", "instance"];

type Scrape = { declared: Set<string>; labels: Map<string, Set<string>> };

/** Series names with the label names seen on their samples, and the names prom-client declares (# TYPE). */
export function parseScrape(texts: string[]): Scrape {
  const declared = new Set<string>();
  const labels = new Map<string, Set<string>>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      const type = /^# TYPE (\S+) (\w+)$/.exec(line);
      if (type) {
        const [, name, kind] = type as unknown as [string, string, string];
        const names = kind === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : kind === "summary" ? [name, `${name}_sum`, `${name}_count`] : [name];
        for (const n of names) declared.add(n);
        continue;
      }
      if (line === "" || line.startsWith("#")) continue;
      const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+/.exec(line);
      if (!sample) throw new Error(`unparsed scrape line: ${line}`);
      const set = labels.get(sample[1]!) ?? new Set<string>();
      for (const m of (sample[2] ?? "").matchAll(/([a-zA-Z_]\w*)="(?:[^"\\]|\\.)*"/g)) set.add(m[1]!);
      labels.set(sample[1]!, set);
    }
  }
  return { declared, labels };
}

const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"]);

/** The metric names and label names a PromQL expression uses (selectors, and by/without/on/ignoring clauses). */
export function parseExpr(expr: string) {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, " ");
  const grouping: string[] = [];
  rest = rest.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, _kw, list: string) => {
    grouping.push(...list.split(",").map((s) => s.trim()).filter(Boolean));
    return " ";
  });
  const selectors: { metric: string | null; labels: string[] }[] = [];
  rest = rest.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, body: string) => {
    selectors.push({ metric: metric ?? null, labels: [...body.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!) });
    return " ";
  });
  const bare = [...rest.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)].filter((m) => !m[2] && !KEYWORDS.has(m[1]!.toLowerCase()) && !/^\d/.test(m[1]!)).map((m) => m[1]!);
  const metrics = [...new Set([...selectors.flatMap((s) => (s.metric ? [s.metric] : [])), ...bare])];
  return { metrics, selectors, grouping };
}

/** What in `expr` no scraped process exports: unknown metrics, and labels not on the series named. */
export function unexported(expr: string, scrape: Scrape): string[] {
  const { metrics, selectors, grouping } = parseExpr(expr);
  const problems: string[] = [];
  if (metrics.length === 0) problems.push(`no metric in ${expr}`);
  for (const m of metrics) if (!scrape.declared.has(m) && !scrape.labels.has(m)) problems.push(`metric ${m}`);
  const labelsOf = (m: string) => scrape.labels.get(m) ?? new Set<string>();
  for (const s of selectors) {
    for (const l of s.labels) {
      if (l === "__name__" || TARGET_LABELS.includes(l)) continue;
      if (!s.metric || !labelsOf(s.metric).has(l)) problems.push(`label ${l} on ${s.metric}`);
    }
  }
  const all = new Set([...TARGET_LABELS, ...metrics.flatMap((m) => [...labelsOf(m)])]);
  for (const l of grouping) if (!all.has(l)) problems.push(`label ${l} in by/without of ${metrics.join(", ")}`);
  return problems;
}

type Panel = { title: string; type: string; targets?: { expr: string }[]; panels?: Panel[] };
const dashboard = JSON.parse(readFileSync(resolve(ROOT, "docs/grafana/catalog-cache.json"), "utf8")) as { panels: Panel[] };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== "row");
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

let p: Pipeline;
let scrape: Scrape;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
const metricsPort = (proc: { output(): string }) => Number(/"metricsPort":(\d+)/.exec(proc.output())![1]);
const get = async (url: string) => (await fetch(url)).text();

beforeAll(async () => {
  p = await createPipeline("grafana");
  const redis = new URL(TEST_REDIS_URL);
  proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
  const apiEnv = { ADMIN_TOKEN: TOKEN, L1_ENABLED: "true" };
  const fast = {};
  const [api, flaky, relay, catalog, storefront] = await Promise.all([
    p.startApi(apiEnv),
    // Its Redis through a proxy that the test stalls: reads fall back to PostgreSQL.
    p.startApi({ ...apiEnv, REDIS_URL: proxy.url, L1_ENABLED: "false", REDIS_COMMAND_TIMEOUT_MS: "100" }),
    p.startRelay(),
    p.startConsumer("catalog", "rebuild", fast),
    p.startConsumer("storefront", "evict", fast),
  ]);

  // Writes through the relay and both consumers; reads that miss, then hit (Redis, then L1).
  const ids = await p.createProducts(api.url, "g", 5);
  await Promise.all(ids.map((id) => http(api.url, "PATCH", `/products/${id}`, { priceCents: 7 })));
  await p.converged(ids, ["catalog", "storefront"], 20_000);
  const shop = await p.startStorefront(api.url);
  for (let i = 0; i < 2; i++) for (const id of ids) expect((await http(shop.url, "GET", `/products/${id}`)).status).toBe(200);
  for (let i = 0; i < 3; i++) for (const id of ids) expect((await http(api.url, "GET", `/products/${id}`)).status).toBe(200);
  // A replay of listed ids.
  const replay = await http(api.url, "POST", "/admin/replay", { productIds: ids }, { authorization: `Bearer ${TOKEN}` });
  expect(replay.status).toBe(202);
  // Poison messages: dead letters with a reason in both groups.
  await kafkaTool(["produce", p.topic], [JSON.stringify({ key: `${p.prefix}-poison`, value: "{not json" })].join("\n"));
  // A read while the flaky api's Redis answers nothing: served from PostgreSQL, counted as a fallback.
  proxy.pause();
  expect((await http(flaky.url, "GET", `/products/${ids[0]}`)).status).toBe(200);
  proxy.resume();

  const consumerTexts = async () => Promise.all([catalog, storefront].map((c) => get(`http://127.0.0.1:${metricsPort(c)}/metrics`)));
  await waitFor(
    async () => (await consumerTexts()).every((t) => /^catalog_consumer_events_total\{[^}]*outcome="dead_lettered"/m.test(t) && /^catalog_consumer_lag_messages\{/m.test(t)),
    15_000,
    "dead letters and lag on both consumers' /metrics",
  );
  await waitFor(async () => /^catalog_relay_batch_seconds_count\{[^}]*\} [1-9]/m.test(await get(`http://127.0.0.1:${metricsPort(relay)}/metrics`)), 10_000, "a relay batch");
  // The storefront counts its own reads, labelled as the storefront.
  const shopText = await get(`${shop.url}/metrics`);
  expect(shopText).toMatch(/^catalog_cache_events_total\{[^}]*event="hit"[^}]*process="storefront"[^}]*\} [1-9]/m);
  expect(shopText).toMatch(/^catalog_http_requests_total\{[^}]*route="\/products\/:id"[^}]*process="storefront"[^}]*\} [1-9]/m);
  scrape = parseScrape([
    await get(`${api.url}/metrics`),
    await get(`${flaky.url}/metrics`),
    shopText,
    await get(`http://127.0.0.1:${metricsPort(relay)}/metrics`),
    ...(await consumerTexts()),
  ]);
}, 60_000);
afterAll(async () => {
  proxy?.stop();
  await p?.close();
});

describe("docs/grafana/catalog-cache.json", () => {
  test("has the panels the operators asked for, each with a query", () => {
    const titles = panels.map((x) => x.title.toLowerCase()).join(" | ");
    for (const want of ["hit ratio", "latency", "commit-to-cache", "consumer lag", "backlog age", "dead letters", "redis fallbacks", "replays", "near cache"]) expect(titles).toContain(want);
    expect(panels.every((x) => (x.targets ?? []).length > 0)).toBe(true);
    expect(targets.length).toBeGreaterThanOrEqual(20);
  });

  test("every metric and label a panel's expression names is exported by a running process", () => {
    const problems = targets.flatMap((t) => unexported(t.expr, scrape).map((m) => `${t.panel}: ${m}`));
    expect(problems).toEqual([]);
  });

  test("the check itself: a renamed metric, or a label the series does not carry, is caught", () => {
    const hit = 'sum by (instance) (rate(catalog_cache_events_total{event="hit"}[5m]))';
    expect(unexported(hit, scrape)).toEqual([]);
    expect(unexported(hit.replace("catalog_cache_events_total", "catalog_cache_event_total"), scrape)).toEqual(["metric catalog_cache_event_total", "label event on catalog_cache_event_total"]);
    expect(unexported(hit.replace("{event=", "{namespace="), scrape)).toEqual(["label namespace on catalog_cache_events_total"]);
    expect(unexported("sum by (op) (catalog_relay_backlog_rows)", scrape)).toEqual(["label op in by/without of catalog_relay_backlog_rows"]);
    expect(unexported("histogram_quantile(0.99, sum by (le) (rate(catalog_relay_batch_seconds_bucket[5m])))", scrape)).toEqual([]);
    expect(unexported("histogram_quantile(0.99, sum by (le) (rate(catalog_relay_batch_seconds[5m])))", scrape)).toEqual(["metric catalog_relay_batch_seconds", "label le in by/without of catalog_relay_batch_seconds"]);
  });
});
