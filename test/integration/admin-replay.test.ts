// Admin replay through the HTTP api: authentication, validation, the one-full-replay rule, and
// the repair of a corrupted cache and snapshot table from the events.
import { afterAll, describe, expect, test } from "bun:test";
import { fold } from "../../src/catalog/evolve.ts";
import { entryFor } from "../../src/usecases/cache-entry.ts";
import { ADMIN_TOKEN, createHarness } from "../support/harness.ts";
import { waitFor } from "../support/services.ts";

const h = createHarness("replay");
afterAll(() => h.close());

async function finished(jobId: string) {
  return waitFor(async () => {
    const r = await h.call("GET", `/admin/replay/${jobId}`, { admin: true });
    return r.body.status === "running" ? null : r.body;
  }, 30_000, `replay ${jobId} to finish`);
}

/** What the events say each product's cache entry must be. */
async function expectedEntries(ids: string[]) {
  const byId = new Map<string, string>();
  for (const id of ids) {
    const state = fold(await h.store.history(id))!;
    const e = entryFor(state);
    byId.set(id, `${e.version}|${e.kind}|${e.payload}`);
  }
  return byId;
}

describe("admin authentication", () => {
  test.each([
    ["no Authorization header", {}],
    ["a wrong token", { authorization: "Bearer not-the-token-at-all" }],
    ["the token without the Bearer scheme", { authorization: ADMIN_TOKEN }],
    ["Basic credentials", { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` }],
  ])("with %s, replay is 401 UNAUTHORIZED and starts nothing", async (_what, headers) => {
    const r = await h.call("POST", "/admin/replay", { body: { productIds: ["x"] }, headers });
    expect([r.status, r.body.error.code]).toEqual([401, "UNAUTHORIZED"]);
    expect((await h.call("GET", "/admin/replay/anything", { headers })).status).toBe(401);
  });

  test("with the right token, replay is 202 with a job id and a Location", async () => {
    const p = await h.create();
    const r = await h.call("POST", "/admin/replay", { body: { productIds: [p.id] }, admin: true });
    expect(r.status).toBe(202);
    expect(r.headers.get("location")).toBe(`/admin/replay/${r.body.jobId}`);
    expect(await finished(r.body.jobId)).toMatchObject({ status: "completed", scope: "ids", total: 1, processed: 1, errors: 0 });
  });
});

describe("replay requests", () => {
  test.each([
    ["productIds that is not a list", { productIds: "a,b" }],
    ["an empty productIds", { productIds: [] }],
    ["a bad product id", { productIds: ["ok", "not ok"] }],
    ["an unknown field", { everything: true }],
    ["a bad namespace", { namespace: "a:b" }],
  ])("%s is 400 VALIDATION_FAILED", async (_what, body) => {
    const r = await h.call("POST", "/admin/replay", { body, admin: true });
    expect([r.status, r.body.error.code]).toEqual([400, "VALIDATION_FAILED"]);
  });

  test("an unknown job is 404", async () => {
    const r = await h.call("GET", "/admin/replay/no-such-job", { admin: true });
    expect([r.status, r.body.error.code]).toEqual([404, "NOT_FOUND"]);
  });

  test("while a full replay of a namespace runs elsewhere, a second is 409 REPLAY_RUNNING naming it", async () => {
    expect(await h.jobs.tryLock("catalog", "job-on-another-instance", 10_000)).toBeNull();
    try {
      const r = await h.call("POST", "/admin/replay", { admin: true }); // no body: every product
      expect([r.status, r.body.error.code, r.body.error.details]).toEqual([409, "REPLAY_RUNNING", { jobId: "job-on-another-instance" }]);
      // a replay of listed ids, or of another namespace, is not blocked
      const other = await h.call("POST", "/admin/replay", { body: { namespace: "other" }, admin: true });
      expect(other.status).toBe(202);
      // It replays every product in the database: wait for it, so it does not repair what the next test corrupts.
      expect((await finished(other.body.jobId)).status).toBe("completed");
    } finally {
      await h.jobs.release("catalog", "job-on-another-instance");
    }
  });
});

describe("when the cache and the snapshot table are corrupted", () => {
  test("then a replay restores both from the events", async () => {
    const ps = await Promise.all(Array.from({ length: 8 }, () => h.create()));
    const ids = ps.map((p) => p.id);
    for (const id of ids.slice(0, 4)) await h.call("PATCH", `/products/${id}`, { body: { priceCents: 777 } });
    await h.call("DELETE", `/products/${ids[7]}`);
    const expected = await expectedEntries(ids);

    // Cache: deleted, garbage, an impossible version, the right version with the wrong data, an older version.
    await h.redis.del(h.key(ids[0]!));
    await h.redis.set(h.key(ids[1]!), "garbage");
    await h.plant(ids[2]!, `99|p|{"id":"${ids[2]}","priceCents":1}`);
    await h.plant(ids[3]!, `2|p|{"id":"${ids[3]}","priceCents":1}`);
    await h.redis.set(h.key(ids[4]!), "0|p|-|{}");
    await h.plant(ids[7]!, `1|p|${JSON.stringify(ps[7])}`); // the deleted one, resurrected
    // Snapshots: a changed price, an impossible version, a missing row.
    await h.prisma.productSnapshot.update({ where: { id: ids[5]! }, data: { priceCents: 1n } });
    await h.prisma.productSnapshot.update({ where: { id: ids[6]! }, data: { version: 42 } });
    await h.prisma.productSnapshot.delete({ where: { id: ids[0]! } });

    const r = await h.call("POST", "/admin/replay", { body: { productIds: [...ids, `${h.prefix}-ghost`] }, admin: true });
    const job = await finished(r.body.jobId);
    // The total is the ids asked for; the one without events is named.
    expect(job).toMatchObject({ status: "completed", total: 9, processed: 8, missing: 1, missingIds: [`${h.prefix}-ghost`], errors: 0, snapshotsRepaired: 3 });
    expect(job.cacheWritten + job.cacheRepaired).toBe(8 - job.cacheUnchanged);

    const cached = await Promise.all(ids.map((id) => h.cached(id)));
    expect(Object.fromEntries(ids.map((id, i) => [id, cached[i]]))).toEqual(Object.fromEntries(expected));
    for (const id of ids) {
      const snapshot = await h.store.loadState(id);
      expect(snapshot).toEqual(fold(await h.store.history(id)));
    }
    expect((await h.call("GET", `/products/${ids[7]}`)).status).toBe(404);
  });
});
