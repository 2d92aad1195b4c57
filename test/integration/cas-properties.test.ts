// Property tests of the compare-and-set script on the real Redis: any order of writes ends at the
// highest version, and the script agrees step by step with a model of its rules.
import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createRedisCache } from "../../src/infra/redis-cache.ts";
import type { CacheEntry } from "../../src/usecases/ports.ts";
import { deleteKeys, testRedis, uniquePrefix } from "../support/services.ts";

const prefix = uniquePrefix("casprop");
const clients = [testRedis(), testRedis(), testRedis()];
const caches = clients.map((c) => createRedisCache(c, { keyPrefix: prefix, namespace: "p", ttlSeconds: 60 }));
afterAll(async () => {
  await deleteKeys(clients[0]!, prefix);
  clients.forEach((c) => c.disconnect());
});

const entryArb: fc.Arbitrary<CacheEntry> = fc
  .record({ version: fc.integer({ min: 1, max: 15 }), kind: fc.constantFrom("p", "t", "m"), tag: fc.integer({ min: 0, max: 3 }) })
  .map(({ version, kind, tag }) => ({ version, kind: kind as CacheEntry["kind"], payload: kind === "p" ? `{"v":${version},"tag":${tag}}` : "" }));

/** The rules of cas-set-1.lua, as a pure function. */
function model(current: CacheEntry | null, next: CacheEntry): CacheEntry {
  if (!current) return next;
  if (next.version > current.version) return next;
  if (next.version === current.version && current.kind === "m" && next.kind !== "m") return next;
  return current;
}

let n = 0;
describe("compare-and-set, for any sequence of writes", () => {
  test("applied one by one, it agrees with the model at every step and ends at the highest version", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 25 }), async (entries) => {
        const id = `seq${++n}`;
        let expected: CacheEntry | null = null;
        for (const e of entries) {
          const result = await caches[0]!.put(id, e);
          const next = model(expected, e);
          expect(result).toEqual({ applied: next === e, version: next.version });
          expected = next;
          expect(await caches[0]!.get(id)).toEqual(expected);
        }
        expect(expected!.version).toBe(Math.max(...entries.map((e) => e.version)));
      }),
      { numRuns: 150 },
    );
  });

  test("sent concurrently from three clients, it ends at the highest version, with data over a marker", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 40 }), async (entries) => {
        const id = `conc${++n}`;
        await Promise.all(entries.map((e, i) => caches[i % 3]!.put(id, e)));
        const final = (await caches[0]!.get(id))!;
        const max = Math.max(...entries.map((e) => e.version));
        expect(final.version).toBe(max);
        const dataAtMax = entries.some((e) => e.version === max && e.kind !== "m");
        expect(final.kind === "m").toBe(!dataAtMax);
        expect(entries.some((e) => e.version === final.version && e.kind === final.kind && e.payload === final.payload)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
