// sameState: equal as states, every field, whatever the key order. Its fast path (known fields,
// no other key) must answer as the full comparison of every key and value does.
import { expect, test } from "bun:test";
import { sameState, type ProductState } from "../../src/catalog/product.ts";

const base: ProductState = { id: "a", name: "Kettle", description: "", priceCents: 100, currency: "EUR", version: 2, deleted: false, createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-02T00:00:00.000Z" };
const full = (a: object, b: object) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
const reversed = (s: object) => Object.fromEntries(Object.entries(s).reverse()) as ProductState;

test.each([
  ["the same state", base, { ...base }],
  ["the same state, keys in another order", base, reversed(base)],
  ["with the same category", { ...base, category: "tea" }, reversed({ ...base, category: "tea" })],
  ["a category on one side only", { ...base, category: "tea" }, base],
  ["a category key holding undefined on one side", { ...base, category: undefined }, base],
  ["another price", base, { ...base, priceCents: 101 }],
  ["another version", base, { ...base, version: 3 }],
  ["an extra key on one side", { ...base, extra: 1 }, base],
  ["the same extra key on both sides", { ...base, extra: 1 }, reversed({ ...base, extra: 1 })],
  ["different extra keys", { ...base, x: 1 }, { ...base, y: 1 }],
  ["NaN prices (equal as JSON)", { ...base, priceCents: NaN }, { ...base, priceCents: NaN }],
])("%s: as the full comparison says", (_what, a, b) => {
  expect(sameState(a as ProductState, b as ProductState)).toBe(full(a, b));
  expect(sameState(b as ProductState, a as ProductState)).toBe(full(b, a));
});
