// evolve is written without intermediate objects (the replay folds every event of the catalog).
// Held here to the spreads it replaced, kept below as the reference: for any events, the same
// state, with the same keys in the same order, from well-formed events and from odd ones (extra
// keys in the data, fields missing, a "__proto__" key as JSON.parse makes it, a state from a
// snapshot row with keys in another order).
import { expect, test } from "bun:test";
import fc from "fast-check";
import type { ProductEvent } from "../../src/catalog/events.ts";
import { evolve, fold } from "../../src/catalog/evolve.ts";
import { applyChanges, type ProductState } from "../../src/catalog/product.ts";

function reference(state: ProductState | null, event: ProductEvent): ProductState {
  const base = { id: event.productId, version: event.version, updatedAt: event.occurredAt };
  switch (event.type) {
    case "ProductCreated":
      return { ...event.data, ...base, deleted: false, createdAt: event.occurredAt };
    case "ProductUpdated": {
      if (!state) throw new Error(`ProductUpdated v${event.version} of ${event.productId} without a prior state`);
      const { category: _drop, ...rest } = state;
      return { ...rest, ...applyChanges(state, event.data), ...base };
    }
    case "ProductDeleted":
      if (!state) throw new Error(`ProductDeleted v${event.version} of ${event.productId} without a prior state`);
      return { ...state, ...base, deleted: true };
  }
}

const key = fc.constantFrom("name", "description", "priceCents", "currency", "category", "id", "version", "deleted", "extra", "__proto__", "updatedAt");
const value = fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null), fc.boolean());
/** Data as JSON.parse makes it: well-formed fields most of the time, any keys (in any order) sometimes. */
const data = fc.oneof(
  fc.record(
    { name: fc.string({ maxLength: 5 }), description: fc.string({ maxLength: 5 }), priceCents: fc.integer(), currency: fc.constantFrom("EUR", "USD"), category: fc.option(fc.string({ maxLength: 3 }), { nil: null }) },
    { requiredKeys: [] },
  ),
  fc.array(fc.tuple(key, value), { maxLength: 6 }),
).map((d) => JSON.parse(JSON.stringify(Array.isArray(d) ? Object.fromEntries(d) : d)) as Record<string, unknown>);
const type = fc.constantFrom("ProductCreated", "ProductUpdated", "ProductUpdated", "ProductDeleted");
const events = fc.array(fc.tuple(type, data), { minLength: 1, maxLength: 8 }).map((list) =>
  list.map(([t, d], i) => ({ eventId: `e${i}`, productId: "p1", version: i + 1, type: t, schemaVersion: 1, occurredAt: `2026-01-01T00:0${i}:00.000Z`, data: d }) as ProductEvent),
);
/** A state as a snapshot row gives it: its own key order, category sometimes absent. */
const initial = fc.option(
  fc.record(
    { id: fc.constant("p1"), version: fc.nat(3), deleted: fc.boolean(), updatedAt: fc.constant("x"), createdAt: fc.constant("y"), name: fc.string({ maxLength: 3 }), description: fc.string({ maxLength: 3 }), priceCents: fc.integer(), currency: fc.constant("EUR"), category: fc.string({ maxLength: 3 }) },
    { requiredKeys: ["id", "version", "deleted", "updatedAt", "createdAt", "name", "description", "priceCents", "currency"] },
  ) as fc.Arbitrary<ProductState>,
  { nil: null },
);

const outcome = (f: () => ProductState | null) => {
  try {
    const state = f();
    return { state, keys: state && Object.keys(state), proto: state && Object.getPrototypeOf(state) };
  } catch (err) {
    return { error: (err as Error).message };
  }
};

test("evolve gives what the spreads give: the same state, keys in the same order, the same errors", () => {
  fc.assert(
    fc.property(events, initial, (list, start) => {
      let a: ProductState | null = start;
      let b: ProductState | null = start;
      for (const e of list) {
        const x = outcome(() => evolve(a, e));
        const y = outcome(() => reference(b, e));
        expect(x).toEqual(y);
        if ("error" in x) return;
        a = x.state;
        b = y.state!;
      }
      expect(outcome(() => fold(list, start))).toEqual(outcome(() => list.reduce<ProductState | null>(reference, start)));
    }),
    { numRuns: 2000 },
  );
});

test("evolve does not change the state it is given", () => {
  const state: ProductState = { id: "p1", version: 1, deleted: false, updatedAt: "a", createdAt: "a", name: "n", description: "d", priceCents: 1, currency: "EUR", category: "c" };
  const copy = structuredClone(state);
  const update: ProductEvent = { eventId: "e", productId: "p1", version: 2, type: "ProductUpdated", schemaVersion: 1, occurredAt: "b", data: { name: "m", category: null } };
  const remove: ProductEvent = { eventId: "e", productId: "p1", version: 2, type: "ProductDeleted", schemaVersion: 1, occurredAt: "b", data: {} };
  evolve(state, update);
  evolve(state, remove);
  expect(state).toEqual(copy);
});
