// The race from DESIGN.md, made deterministic: a reader misses and reads version N from PostgreSQL,
// a write commits N+1 and puts it into the cache, then the reader's fill of N arrives late.
import { afterAll, describe, expect, test } from "bun:test";
import type { EventStore } from "../../src/usecases/ports.ts";
import { createHarness } from "../support/harness.ts";

/** Holds the next loadState() after it has read PostgreSQL, until released. */
function gate() {
  let armed = false;
  let readDone!: () => void;
  let release!: () => void;
  const state = {
    arm() {
      armed = true;
      const read = new Promise<void>((r) => (readDone = r));
      const released = new Promise<void>((r) => (release = r));
      return { read, release: () => release(), released };
    },
  };
  let released: Promise<void> = Promise.resolve();
  const wrap = (store: EventStore): EventStore => ({
    ...store,
    async loadState(id) {
      const result = await store.loadState(id);
      if (armed) {
        armed = false;
        readDone();
        await released;
      }
      return result;
    },
  });
  return {
    wrap,
    arm() {
      const handle = state.arm();
      released = handle.released;
      return handle;
    },
  };
}

const g = gate();
const h = createHarness("race", { wrapStore: g.wrap });
afterAll(() => h.close());

describe.each([
  ["an update", "PATCH", { body: { priceCents: 1 } }, 200],
  ["a delete", "DELETE", {}, 404],
] as const)("when %s lands between a reader's database read and its fill", (_what, method, init, statusAfter) => {
  test("then the late fill is refused and the cache keeps the newer version", async () => {
    const p = await h.create();
    await h.redis.del(h.key(p.id)); // cold key: the reader will miss

    const hold = g.arm();
    const reader = h.call("GET", `/products/${p.id}`); // misses, reads v1, then waits at the gate
    await hold.read;

    const write = await h.call(method, `/products/${p.id}`, init);
    expect(write.status).toBeLessThan(300);
    const afterWrite = await h.redis.get(h.key(p.id));
    expect(afterWrite).toStartWith("2|");

    hold.release(); // the reader now fills version 1
    const late = await reader;
    expect([late.status, late.headers.get("x-cache"), late.body.version]).toEqual([200, "miss", 1]);

    expect(await h.redis.get(h.key(p.id))).toBe(afterWrite); // the fill of v1 was refused
    const next = await h.call("GET", `/products/${p.id}`);
    expect([next.status, next.headers.get("x-cache")]).toEqual([statusAfter, "hit"]);
    if (statusAfter === 200) expect(next.body.version).toBe(2);
  });
});
