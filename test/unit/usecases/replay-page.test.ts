// replayPage over the twins: how it sorts each product's cache entry into its cases (written,
// repaired, unchanged, newer) and repairs snapshot rows, with exact counts.
import { expect, test } from "bun:test";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import { entryFor } from "../../../src/usecases/cache-entry.ts";
import { emptyCounts, replayPage } from "../../../src/usecases/replay.ts";
import type { ReplayError } from "../../../src/usecases/ports.ts";
import { ctx, fields, logger, twins } from "./twins.ts";

test("each entry lands in exactly one case, and the cache ends equal to the events", async () => {
  const t = twins();
  const execute = createCommandExecutor({ store: t.store, writer: null, ctx });
  const ids = ["empty", "older", "marker", "oldepoch", "same", "tampered", "payload", "newer", "broken"];
  for (const id of ids) await execute({ type: "CreateProduct", id, fields: fields(1) });
  for (const id of ["older", "newer"]) await execute({ type: "PatchProduct", id, changes: { priceCents: 2 } });
  const cache = t.cache();
  const stateOf = async (id: string) => (await t.store.loadState(id))!;

  // An entry from before a fence move: written, then Redis restarted (data kept, fence re-armed).
  await cache.put("oldepoch", entryFor(await stateOf("oldepoch")), cache.epoch()!);
  t.server.restart();
  await cache.mark([{ id: "zz", version: 1 }]); // a write notices the missing fence; the adapter arms a new epoch
  const epoch = cache.epoch()!;
  expect(t.server.entries("catalog").get("oldepoch")!.epoch).not.toBe(epoch);

  await cache.put("older", { version: 1, kind: "p", payload: "{}" }, epoch); // behind the events (v2)
  await cache.mark([{ id: "marker", version: 1 }]);
  await cache.put("same", entryFor(await stateOf("same")), epoch);
  t.server.plant("catalog", "tampered", { version: 9, kind: "p", payload: '{"evil":true}', epoch }); // a version no event had
  t.server.plant("catalog", "payload", { version: 1, kind: "p", payload: '{"priceCents":0}', epoch }); // right version, wrong bytes
  // "newer": a write of version 3 lands (and is cached) after the replay folded version 2.
  const folded = await stateOf("newer");
  // Snapshot rows: one wrong, which the replay repairs from the events.
  t.db.snapshots.set("same", { ...(await stateOf("same")), priceCents: 999 });
  // A product whose events do not fold (a gap): reported, not written.
  t.db.events.splice(t.db.events.findIndex((e) => e.productId === "broken"), 1, { ...t.db.events.find((e) => e.productId === "broken")!, version: 2 });

  // The cache's answers to the replay's first read come from here; "newer" moves on right after.
  const source = { ...t.store, eventsOf: async (page: readonly string[]) => {
    const events = await t.store.eventsOf(page);
    await execute({ type: "PatchProduct", id: "newer", changes: { priceCents: 3 } });
    await cache.put("newer", entryFor(await stateOf("newer")), epoch);
    return events;
  } };
  const counts = emptyCounts();
  const errors: ReplayError[] = [];
  expect(folded.version).toBe(2);
  expect(await replayPage({ source, cache, logger }, ids, counts, errors)).toBe(9);
  expect(counts).toEqual({ processed: 9, snapshotsRepaired: 1, cacheWritten: 4, cacheRepaired: 2, cacheUnchanged: 1, cacheNewer: 1, errors: 1 });
  // written: empty, older, marker, oldepoch; repaired: tampered, payload; unchanged: same; newer: newer
  expect(errors.map((e) => e.productId)).toEqual(["broken"]);
  for (const id of ids.filter((i) => i !== "broken")) {
    const truth = entryFor(await stateOf(id));
    expect({ id, entry: t.server.entries("catalog").get(id) }).toEqual({ id, entry: { ...truth, epoch } });
  }
  expect(t.server.entries("catalog").has("broken")).toBe(false);
});
