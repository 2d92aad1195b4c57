// The command executor over the twins: the per-product queue, the retry when another instance
// took the version, and the write-through after the commit. Exact counts, no timing.
import { describe, expect, test } from "bun:test";
import { createCacheWriter } from "../../../src/usecases/cache-writer.ts";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import { afterEvents } from "../../../src/usecases/outbox-envelopes.ts";
import { decide } from "../../../src/catalog/decide.ts";
import { counting, ctx, fields, logger, twins } from "./twins.ts";

describe("command executor", () => {
  test("50 concurrent writes to one product through one instance queue up: versions 1..50, one append each, no conflict", async () => {
    const t = twins();
    const { store, calls } = counting(t.store);
    const execute = createCommandExecutor({ store, writer: null, ctx });
    await execute({ type: "CreateProduct", id: "p", fields: fields(0) });
    const results = await Promise.all(Array.from({ length: 49 }, (_, i) => execute({ type: "PatchProduct", id: "p", changes: { priceCents: i + 1 } })));
    expect(results.map((r) => r.state.version)).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
    expect(calls.append).toBe(50);
    expect((await t.store.history("p")).map((e) => e.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test("a version taken by another instance between the read and the append is decided again on the new state", async () => {
    const t = twins();
    const { store, calls } = counting(t.store);
    const retries: number[] = [];
    const execute = createCommandExecutor({ store, writer: null, ctx, backoff: async (n) => void retries.push(n) });
    await execute({ type: "CreateProduct", id: "p", fields: fields(1) });
    // Inside the next append, before it commits, another instance writes version 2.
    let raced = false;
    t.db.beforeAppend = async () => {
      if (raced) return;
      raced = true;
      const state = (await t.store.loadState("p"))!;
      const events = decide({ type: "PatchProduct", id: "p", changes: { name: "Theirs" } }, state, ctx);
      const { next, envelopes } = afterEvents(state, events);
      await t.store.append(events, next, envelopes);
    };
    const mine = await execute({ type: "PatchProduct", id: "p", changes: { priceCents: 2 } });
    expect([mine.state.version, mine.state.name, mine.state.priceCents]).toEqual([3, "Theirs", 2]);
    expect(retries).toEqual([1]);
    expect(calls.append).toBe(3); // create, the refused one, the retry
  });

  test("an If-Match write that lost the race fails with 412 on the retry, and eight lost races give 409", async () => {
    const t = twins();
    const execute = createCommandExecutor({ store: t.store, writer: null, ctx, backoff: async () => {} });
    await execute({ type: "CreateProduct", id: "p", fields: fields(1) });
    const rival = async () => {
      const state = (await t.store.loadState("p"))!;
      const events = decide({ type: "PatchProduct", id: "p", changes: { priceCents: state.priceCents + 1 } }, state, ctx);
      const { next, envelopes } = afterEvents(state, events);
      await t.store.append(events, next, envelopes);
    };
    t.db.beforeAppend = async () => {
      t.db.beforeAppend = null;
      await rival();
    };
    await expect(execute({ type: "PatchProduct", id: "p", changes: { name: "x" }, expectedVersion: 1 })).rejects.toMatchObject({ code: "VERSION_CONFLICT" });
    let rivals = 0;
    t.db.beforeAppend = async () => {
      const hook = t.db.beforeAppend;
      t.db.beforeAppend = null; // the rival's own append runs without the hook
      rivals++;
      await rival();
      t.db.beforeAppend = hook;
    };
    await expect(execute({ type: "PatchProduct", id: "p", changes: { name: "y" } })).rejects.toMatchObject({ code: "CONFLICT_RETRY_EXHAUSTED", status: 409 });
    expect(rivals).toBe(8);
  });

  test("the write-through puts the committed state under the epoch learnt before the read", async () => {
    const t = twins();
    const cache = t.cache();
    const writer = createCacheWriter(cache, logger, { retryMs: 60_000 });
    const execute = createCommandExecutor({ store: t.store, writer, ctx });
    await execute({ type: "CreateProduct", id: "p", fields: fields(5) });
    expect(await cache.get("p")).toMatchObject({ version: 1, kind: "p", epoch: cache.epoch() });
    // Redis loses its data while the write is in flight (after the epoch was learnt): only a marker goes in.
    t.db.beforeAppend = () => {
      t.db.beforeAppend = null;
      t.server.loseData();
    };
    await execute({ type: "PatchProduct", id: "p", changes: { priceCents: 6 } });
    expect(await cache.get("p")).toMatchObject({ version: 2, kind: "m" });
    expect(writer.pendingCount()).toBe(0);
    writer.close();
  });
});
