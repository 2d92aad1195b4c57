// A full replay over the twins: it streams the products (ReplaySource.streamProducts), writes pages
// k-1 and k while page k+1 is read, reports after every page, never writes back what its view held once a
// write landed after it, and reads the stream again from the page whose write met a moved fence.
import { expect, test } from "bun:test";
import { fold } from "../../../src/catalog/evolve.ts";
import { entryFor } from "../../../src/usecases/cache-entry.ts";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import type { ReplaySource, StreamedProduct } from "../../../src/usecases/ports.ts";
import { replay } from "../../../src/usecases/replay.ts";
import { ctx, fields, logger, twins, until } from "./twins.ts";

/** Products p1…pN, each created and then patched `patches` times. */
async function catalog(t: ReturnType<typeof twins>, n: number, patches = 1) {
  const execute = createCommandExecutor({ store: t.store, writer: null, ctx });
  const ids = Array.from({ length: n }, (_, i) => `p${i + 1}`);
  for (const id of ids) {
    await execute({ type: "CreateProduct", id, fields: fields(1) });
    for (let v = 2; v <= patches + 1; v++) await execute({ type: "PatchProduct", id, changes: { priceCents: v } });
  }
  return { ids, execute };
}

/** The source, with `onPage` run as each page is read (before the replay gets it), and every stream and page recorded. */
function watched(source: ReplaySource, onPage: (page: readonly StreamedProduct[], n: number) => Promise<void> | void = () => {}) {
  const streams: (string | null)[] = [];
  const pages: string[][] = [];
  const wrapped: ReplaySource = {
    ...source,
    async *streamProducts(after, pageSize) {
      streams.push(after);
      for await (const page of source.streamProducts(after, pageSize)) {
        pages.push(page.map((p) => p.id));
        await onPage(page, pages.length);
        yield page;
      }
    },
  };
  return { source: wrapped, streams, pages };
}

async function expectCacheEqualsEvents(t: ReturnType<typeof twins>, ids: readonly string[], epoch: string) {
  for (const id of ids) {
    const truth = entryFor(fold(await t.store.history(id))!);
    expect({ id, entry: t.server.entries("catalog").get(id) }).toEqual({ id, entry: { ...truth, epoch } });
    expect({ id, row: await t.store.loadState(id) }).toEqual({ id, row: fold(await t.store.history(id)) });
  }
}

test("a full replay streams every product once, reports after every page, and repairs the cache and the snapshot rows", async () => {
  const t = twins();
  const { ids } = await catalog(t, 7);
  t.db.snapshots.set("p2", { ...t.db.snapshots.get("p2")!, priceCents: 999 });
  t.db.snapshots.delete("p5");
  const cache = t.cache();
  const w = watched(t.store);
  const reports: [number, number][] = [];
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 3 }, (counts, _errors, total) => void reports.push([counts.processed, total]));
  expect(result.counts).toEqual({ processed: 7, snapshotsRepaired: 2, cacheWritten: 7, cacheRepaired: 0, cacheUnchanged: 0, cacheNewer: 0, errors: 0 });
  expect([result.total, result.missing]).toEqual([7, 0]);
  expect(reports).toEqual([[3, 7], [6, 7], [7, 7]]);
  expect(w.streams).toEqual([null]);
  expect(w.pages).toEqual([["p1", "p2", "p3"], ["p4", "p5", "p6"], ["p7"]]);
  await expectCacheEqualsEvents(t, ids, cache.epoch()!);
  // Again: nothing left to do.
  const again = await replay({ source: t.store, cache, logger }, { pageSize: 3 }, () => {});
  expect(again.counts).toMatchObject({ processed: 7, snapshotsRepaired: 0, cacheWritten: 0, cacheUnchanged: 7 });
});

test("a write that lands after the stream's view was taken is never written over: not in the cache, not in the snapshot row", async () => {
  const t = twins();
  const { ids, execute } = await catalog(t, 4);
  const cache = t.cache();
  // A wrong row in the view (version 2): the replay's repair meets the row after the late write.
  t.db.snapshots.set("p4", { ...t.db.snapshots.get("p4")!, priceCents: 999 });
  const versionsRead = new Map<string, number>();
  const w = watched(t.store, async (page, n) => {
    for (const p of page) versionsRead.set(p.id, p.events.length);
    if (n !== 1) return;
    // The view is taken; p4 (in a later page) moves on to version 3, committed and cached by the write-through.
    await execute({ type: "PatchProduct", id: "p4", changes: { priceCents: 30 } });
    const committed = (await t.store.loadState("p4"))!;
    expect(await cache.put("p4", entryFor(committed), cache.epoch()!)).toMatchObject({ outcome: "stored" });
  });
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 2 }, () => {});
  expect(versionsRead.get("p4")).toBe(2); // the replay worked from version 2
  // The repair folded the events again (version 3), found the row right, and wrote nothing.
  expect(result.counts).toMatchObject({ processed: 4, errors: 0, cacheNewer: 1, snapshotsRepaired: 0 });
  expect(t.server.entries("catalog").get("p4")).toMatchObject({ version: 3 });
  expect(await t.store.loadState("p4")).toMatchObject({ version: 3, priceCents: 30 });
  await expectCacheEqualsEvents(t, ids, cache.epoch()!);
});

test("a page whose write meets a moved fence is read again, from that page on, under the new epoch; the pages before it are not", async () => {
  const t = twins();
  const { ids, execute } = await catalog(t, 6);
  const cache = t.cache();
  const first = cache.epoch()!;
  const w = watched(t.store, async (_page, n) => {
    if (n !== 2) return;
    // Page 1 is written; then Redis restarts (the fences go, the entries stay), and p3 moves on.
    await until(() => t.server.entries("catalog").has("p2"), "page 1 to be written");
    t.server.restart();
    await execute({ type: "PatchProduct", id: "p3", changes: { priceCents: 33 } });
  });
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 2 }, () => {});
  expect(cache.epoch()).not.toBe(first);
  expect(w.streams).toEqual([null, "p2"]);
  expect(w.pages.slice(0, 2)).toEqual([["p1", "p2"], ["p3", "p4"]]);
  expect(w.pages.slice(-2)).toEqual([["p3", "p4"], ["p5", "p6"]]);
  expect(result.counts).toMatchObject({ processed: 6, errors: 0 });
  // Page 1's entries keep the old epoch (not served; refilled on demand); the rest is under the new one, p3 at version 3.
  expect(t.server.entries("catalog").get("p1")!.epoch).toBe(first);
  expect(t.server.entries("catalog").get("p3")).toMatchObject({ version: 3 });
  await expectCacheEqualsEvents(t, ids.slice(2), cache.epoch()!);
});

test("a page written after a fenced one is read again too, and the snapshot row it repaired meanwhile is counted", async () => {
  const t = twins();
  const { ids } = await catalog(t, 4);
  t.db.snapshots.set("p4", { ...t.db.snapshots.get("p4")!, priceCents: 999 });
  const cache = t.cache();
  const w = watched(t.store, async (_page, n) => {
    if (n !== 3) return;
    // Pages 1 and 2 are written; Redis restarts before page 3 is. Page 4 is written (and its
    // snapshot row repaired) while page 3's fenced write is still to be settled.
    await until(() => t.server.entries("catalog").has("p2"), "pages 1 and 2 to be written");
    t.server.restart();
  });
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 1 }, () => {});
  expect(w.streams).toEqual([null, "p2"]);
  expect(w.pages).toEqual([["p1"], ["p2"], ["p3"], ["p4"], ["p3"], ["p4"]]);
  expect(result.counts).toMatchObject({ processed: 4, errors: 0, snapshotsRepaired: 1 });
  await expectCacheEqualsEvents(t, ids.slice(2), cache.epoch()!);
});

test("a stop request lets the pages in flight finish, and counts them", async () => {
  const t = twins();
  await catalog(t, 5);
  const cache = t.cache();
  let stop = false;
  // Page 3 is read while pages 1 and 2 are in flight; then the stop is asked for.
  const w = watched(t.store, (_page, n) => void (stop = n === 3));
  const reports: number[] = [];
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 1 }, (counts) => void reports.push(counts.processed), () => stop);
  expect(result.counts).toMatchObject({ processed: 2, cacheWritten: 2 });
  expect(reports.at(-1)).toBe(2);
  expect([...t.server.entries("catalog").keys()].sort()).toEqual(["p1", "p2"]);
});

test("a view older than viewMs is left for a new one, which goes on where it got to: every product once, counted once", async () => {
  const t = twins();
  const { ids } = await catalog(t, 5);
  t.db.snapshots.set("p4", { ...t.db.snapshots.get("p4")!, priceCents: 999 });
  const cache = t.cache();
  const w = watched(t.store);
  // viewMs 0: each stream writes one page, then ends at the next page (read again by the next stream).
  const result = await replay({ source: w.source, cache, logger }, { pageSize: 2, viewMs: 0 }, () => {});
  expect(w.streams).toEqual([null, "p2", "p4"]);
  expect(w.pages).toEqual([["p1", "p2"], ["p3", "p4"], ["p3", "p4"], ["p5"], ["p5"]]);
  expect(result.counts).toEqual({ processed: 5, snapshotsRepaired: 1, cacheWritten: 5, cacheRepaired: 0, cacheUnchanged: 0, cacheNewer: 0, errors: 0 });
  await expectCacheEqualsEvents(t, ids, cache.epoch()!);
  // The default keeps one view for a replay this short.
  const once = watched(t.store);
  await replay({ source: once.source, cache, logger }, { pageSize: 2 }, () => {});
  expect(once.streams).toEqual([null]);
});

test("a fence that moves under the same page three times fails the job", async () => {
  const t = twins();
  await catalog(t, 2);
  const cache = t.cache();
  const w = watched(t.store, () => t.server.restart());
  await expect(replay({ source: w.source, cache, logger }, { pageSize: 1 }, () => {})).rejects.toThrow(/fence moved 3 times/);
  expect(w.streams).toEqual([null, null, null]);
});

test("a stream that fails fails the job, and the stop request ends it at the next page", async () => {
  const t = twins();
  await catalog(t, 5);
  const cache = t.cache();
  const broken = watched(t.store, (_page, n) => {
    if (n === 2) t.db.down();
  });
  await expect(replay({ source: broken.source, cache, logger }, { pageSize: 2 }, () => {})).rejects.toThrow(/unavailable/);
  t.db.up();
  let stop = false;
  const stopping = watched(t.store, (_page, n) => void (stop = n === 2));
  const result = await replay({ source: stopping.source, cache, logger }, { pageSize: 2 }, () => {}, () => stop);
  expect(result.counts.processed).toBe(2);
});

test("a product with an event of a newer schema version (a newer api wrote it) is reported, and neither its cache entry nor its snapshot row is touched; by stream and by id", async () => {
  for (const scope of [{ pageSize: 2 }, { ids: ["p1", "p2", "p3"], pageSize: 2 }]) {
    const t = twins();
    const { ids } = await catalog(t, 3);
    const cache = t.cache();
    // A newer api appended v3 of p2 in schema 2 (data this code would misread), wrote its snapshot
    // row and cached it.
    const v2 = (await t.store.history("p2")).at(-1)!;
    t.db.events.push({ ...v2, eventId: crypto.randomUUID(), version: 3, schemaVersion: 2, data: { priceCents: 7, unitPrice: { amount: 7 } } } as never);
    const newer = { ...(await t.store.loadState("p2"))!, version: 3, priceCents: 7 };
    t.db.snapshots.set("p2", newer);
    expect(await cache.put("p2", { version: 3, kind: "p", payload: '{"written":"by the newer api"}' }, cache.epoch()!)).toMatchObject({ outcome: "stored" });
    const result = await replay({ source: t.store, cache, logger }, scope, () => {});
    expect(result.counts).toMatchObject({ processed: 3, errors: 1 });
    expect(result.errors).toEqual([{ productId: "p2", message: expect.stringContaining("schema version 2, newer than 1") }]);
    expect(await t.store.loadState("p2")).toEqual(newer);
    expect(t.server.entries("catalog").get("p2")).toMatchObject({ version: 3, payload: '{"written":"by the newer api"}' });
    await expectCacheEqualsEvents(t, ids.filter((id) => id !== "p2"), cache.epoch()!);
  }
});

test("the snapshot repair folds again a product that moved on, and leaves its row alone when the new event is of a newer schema", async () => {
  const t = twins();
  await catalog(t, 1);
  const folded = (await t.store.loadState("p1"))!; // version 2: what the replay folded
  const wrong = { ...folded, priceCents: 999 };
  t.db.snapshots.set("p1", wrong);
  const v2 = (await t.store.history("p1")).at(-1)!;
  t.db.events.push({ ...v2, eventId: crypto.randomUUID(), version: 3, schemaVersion: 2 } as never); // committed after the replay read
  expect(await t.store.repairSnapshots([folded])).toBe(0);
  expect(await t.store.loadState("p1")).toEqual(wrong);
});
