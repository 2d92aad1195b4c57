// The write-through's failure path over the twins: a write the cache could not take is
// remembered (highest version per product), and once the cache is back a marker of that version
// goes in, never the state.
import { expect, test } from "bun:test";
import { createCacheWriter } from "../../../src/usecases/cache-writer.ts";
import { createCommandExecutor } from "../../../src/usecases/commands.ts";
import { ctx, fields, logger, twins, until } from "./twins.ts";

test("writes during a cache outage are remembered, then invalidated with one marker each when the cache is back", async () => {
  const t = twins();
  const cache = t.cache();
  const writer = createCacheWriter(cache, logger, { retryMs: 3_600_000 }); // the reconnect, not the timer, repairs here
  const execute = createCommandExecutor({ store: t.store, writer, ctx });
  await execute({ type: "CreateProduct", id: "a", fields: fields(1) });
  await execute({ type: "CreateProduct", id: "b", fields: fields(1) });
  t.server.down();
  for (const price of [2, 3, 4]) await execute({ type: "PatchProduct", id: "a", changes: { priceCents: price } });
  await execute({ type: "DeleteProduct", id: "b" });
  expect(writer.pendingCount()).toBe(2); // a at 4, b at 2: one per product, the highest version
  await writer.retryPending(); // still down: kept
  expect(writer.pendingCount()).toBe(2);

  t.server.up(); // the adapter verifies its fence, and its ready listeners run
  await until(() => writer.pendingCount() === 0, "the pending write-throughs to be invalidated");
  const entries = t.server.entries("catalog");
  expect(entries.get("a")).toMatchObject({ version: 4, kind: "m" });
  expect(entries.get("b")).toMatchObject({ version: 2, kind: "m" });
  writer.close();
});

test("at most maxPending products are remembered during an outage; the rest are left to the consumers and the TTL", async () => {
  const t = twins();
  const cache = t.cache();
  const writer = createCacheWriter(cache, logger, { retryMs: 3_600_000, maxPending: 3 });
  const execute = createCommandExecutor({ store: t.store, writer, ctx });
  t.server.down();
  for (const id of ["a", "b", "c", "d", "e"]) await execute({ type: "CreateProduct", id, fields: fields(1) });
  expect(writer.pendingCount()).toBe(3);
  await execute({ type: "PatchProduct", id: "a", changes: { priceCents: 9 } }); // a known product still moves up
  t.server.up();
  await until(() => writer.pendingCount() === 0, "the invalidations");
  expect([...t.server.entries("catalog").keys()].sort()).toEqual(["a", "b", "c"]);
  expect(t.server.entries("catalog").get("a")).toMatchObject({ version: 2, kind: "m" });
  writer.close();
});
