// Operations against the real processes: a full replay while a writer and the consumers run, the
// replay command line, and a cold hot key hit by 1,000 requests across three api processes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fold } from "../../src/catalog/evolve.ts";
import type { ProductEvent } from "../../src/catalog/events.ts";
import { entryFor } from "../../src/usecases/cache-entry.ts";
import { BUN, spawn } from "../support/processes.ts";
import { createPipeline, http, startSampler, type Pipeline } from "../support/pipeline.ts";
import { exchange } from "../support/raw-http.ts";
import { waitFor } from "../support/services.ts";

const TOKEN = "e2e-admin-token-0123456789";
let p: Pipeline;
beforeAll(async () => {
  p = await createPipeline("ops");
});
afterAll(() => p.close());

/** Each product's cache entry as the events say it must be, read from the database now. */
async function truth(ids: readonly string[]) {
  const { rows } = await p.db.query<{ product_id: string; version: number; type: string; data: object; occurred_at: Date; event_id: string; schema_version: number }>(
    "SELECT * FROM events WHERE product_id = ANY($1) ORDER BY product_id, version",
    [ids],
  );
  const events = new Map<string, ProductEvent[]>();
  for (const r of rows) {
    const e = { eventId: r.event_id, productId: r.product_id, version: r.version, type: r.type, schemaVersion: r.schema_version, data: r.data, occurredAt: r.occurred_at.toISOString() } as ProductEvent;
    events.set(r.product_id, [...(events.get(r.product_id) ?? []), e]);
  }
  return ids.map((id) => {
    const e = entryFor(fold(events.get(id)!)!);
    return `${e.version}|${e.kind}|${e.payload}`;
  });
}

const cached = (ids: readonly string[]) => Promise.all(ids.map((id) => p.cachedEntry("catalog", id)));

/**
 * An api process's metrics, read over a socket of its own: Bun's fetch runs at most 256 requests
 * at once, and the stampede below holds that many open while it reads them.
 */
async function scrape(url: string): Promise<string> {
  const request = new TextEncoder().encode("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  const { responses } = await exchange(Number(new URL(url).port), [{ bytes: request }], { expect: 1 });
  if (responses[0]?.status !== 200) throw new Error(`GET /metrics of ${url} answered ${JSON.stringify(responses[0] ?? "nothing")}`);
  return responses[0].body;
}

/** Sum of a metric's samples (only those with `label`, when given). */
const metricSum = (text: string, name: string, label?: string) =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? ([0-9.e+-]+)$`, "gm"))]
    .filter((m) => label === undefined || (m[1] ?? "").split(",").includes(label))
    .reduce((s, m) => s + Number(m[2]), 0);

describe("when a full replay runs while a writer and the consumers run", () => {
  test("then afterwards every cache entry equals the folded events, and no sampled version went back", async () => {
    const api = await p.startApi({ ADMIN_TOKEN: TOKEN, CACHE_WRITE_THROUGH: "true" });
    await Promise.all([p.startRelay(), p.startConsumer("catalog", "rebuild"), p.startConsumer("storefront", "evict")]);
    const ids = Array.from({ length: 200 }, (_, i) => `${p.prefix}-r${i}`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((id) => http(api.url, "POST", "/products", { id, name: id, priceCents: 1, currency: "EUR" })));
    }
    // Corrupt some entries so the replay has work beyond the consumers'.
    for (const id of ids.slice(0, 20)) await p.redis.del(p.key("catalog", id));
    const sampler = startSampler(p, ["catalog"], () => ids, 5);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        expect((await http(api.url, "PATCH", `/products/${id}`, { priceCents: ++writes })).status).toBe(200);
      }
    })();
    const started = await http(api.url, "POST", "/admin/replay", undefined, { authorization: `Bearer ${TOKEN}` });
    expect(started.status).toBe(202);
    const job = await waitFor(async () => {
      const r = await http(api.url, "GET", `/admin/replay/${started.body.jobId}`, undefined, { authorization: `Bearer ${TOKEN}` });
      return r.body.status === "running" ? null : r.body;
    }, 60_000, "the replay to finish");
    writing = false;
    await writer;
    expect(job).toMatchObject({ status: "completed", errors: 0 });
    expect(job.processed).toBeGreaterThanOrEqual(ids.length);
    expect(writes).toBeGreaterThan(0);

    await waitFor(async () => JSON.stringify(await cached(ids)) === JSON.stringify(await truth(ids)), 20_000, "catalog to equal the events");
    await sampler.stop();
    expect(sampler.regressions).toEqual([]);
  });

  test("then the command-line replay repairs the same way and reports completion", async () => {
    const ids = [`${p.prefix}-r0`, `${p.prefix}-r1`];
    await p.redis.set(p.key("catalog", ids[0]!), "garbage");
    const cli = spawn([BUN, "scripts/replay.ts", "--ids", ids.join(","), "--quiet"], {
      DATABASE_URL: p.databaseUrl,
      REDIS_URL: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0",
      CACHE_KEY_PREFIX: p.prefix,
    });
    expect(await cli.exited).toBe(0);
    expect(JSON.parse(cli.output().slice(cli.output().indexOf("{")))).toMatchObject({ status: "completed", total: 2, processed: 2, errors: 0 });
    expect(await cached(ids)).toEqual(await truth(ids));
  });
});

describe("when 1,000 requests for one cold key reach three api processes at once", () => {
  test("then PostgreSQL is read exactly once: one process fills under the lease, the other two wait for its fill", async () => {
    // The lease outlives, and the waiters outwait, the held read below: neither gives way first.
    const apis = await Promise.all([0, 1, 2].map(() => p.startApi({ CACHE_NAMESPACE: "hot", CACHE_LEASE_MS: "30000", CACHE_LEASE_WAIT_MS: "10000" })));
    const id = `${p.prefix}-hot`;
    const created = await http(apis[0]!.url, "POST", "/products", { id, name: "Hot", priceCents: 1, currency: "EUR" });
    expect(created.status).toBe(201);
    await p.redis.del(p.key("hot", id)); // cold
    const counts = () =>
      Promise.all(
        apis.map(async (a) => {
          const text = await scrape(a.url);
          return {
            misses: metricSum(text, "catalog_cache_events_total", 'event="miss"'),
            reads: metricSum(text, "catalog_db_reads_total"),
            filled: metricSum(text, "catalog_cache_lease_waits_total", 'outcome="filled"'),
            timedOut: metricSum(text, "catalog_cache_lease_waits_total", 'outcome="timeout"'),
          };
        }),
      );
    const before = await counts();

    // The first fill's database read is held open until every process has a request waiting, so
    // that without the lease each process reads PostgreSQL itself (its own requests share one read).
    // loadState reads the snapshot row with a plain SELECT, which a row lock does not block: the
    // test's transaction holds the table's ACCESS EXCLUSIVE lock instead (this database is the
    // file's own).
    const holder = await p.db.connect();
    let responses!: Promise<{ status: number; body: unknown }[]>;
    try {
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE product_snapshots IN ACCESS EXCLUSIVE MODE");
      responses = Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const res = await fetch(`${apis[i % 3]!.url}/products/${id}`);
          return { status: res.status, body: await res.json() };
        }),
      );
      await waitFor(
        async () => {
          const blocked = await p.db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%product_snapshots%'",
          );
          const misses = (await counts()).map((c, i) => c.misses - before[i]!.misses);
          return blocked.rows[0]!.n >= 1 && misses.every((m) => m >= 1);
        },
        20_000,
        "a database read of the product held by the lock, and a miss counted by each of the three processes",
      );
    } finally {
      await holder.query("COMMIT").finally(() => holder.release());
    }

    expect((await responses).filter((r) => r.status !== 200 || JSON.stringify(r.body) !== JSON.stringify(created.body))).toEqual([]);
    const after = await counts();
    const total = (k: "reads" | "filled" | "timedOut") => after.reduce((s, c, i) => s + c[k] - before[i]![k], 0);
    console.log(`stampede: 1000 requests over 3 api processes → ${total("reads")} database read(s), ${total("filled")} lease wait(s) ended by the fill`);
    // Exactly what the lease guarantees: one read, and each of the two other processes waited once
    // (its own concurrent requests share that wait) and was served by the fill.
    expect({ reads: total("reads"), filled: total("filled"), timedOut: total("timedOut") }).toEqual({ reads: 1, filled: 2, timedOut: 0 });
  });
});
