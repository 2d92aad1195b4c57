// Given these events, when this command, then these events (or this error).
import { describe, expect, test } from "bun:test";
import { decide, type Command } from "../../src/catalog/decide.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import type { ProductEvent } from "../../src/catalog/events.ts";
import { evolve, fold } from "../../src/catalog/evolve.ts";
import { toView } from "../../src/catalog/product.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const T1 = "2026-01-01T00:00:01.000Z";
const ctx = () => {
  let n = 0;
  return { now: () => new Date(T1), newId: () => `evt-${++n}` };
};

const created = (version = 1, over: Partial<ProductEvent> = {}): ProductEvent =>
  ({
    type: "ProductCreated",
    data: { name: "Kettle", description: "1.7 l", priceCents: 3999, currency: "EUR", category: "kitchen" },
    eventId: `e${version}`,
    productId: "kettle",
    version,
    schemaVersion: 1,
    occurredAt: T0,
    ...over,
  }) as ProductEvent;
const updated = (version: number, data: Record<string, unknown>): ProductEvent =>
  ({ type: "ProductUpdated", data, eventId: `e${version}`, productId: "kettle", version, schemaVersion: 1, occurredAt: T0 }) as ProductEvent;
const deleted = (version: number): ProductEvent =>
  ({ type: "ProductDeleted", data: {}, eventId: `e${version}`, productId: "kettle", version, schemaVersion: 1, occurredAt: T0 }) as ProductEvent;

function given(events: ProductEvent[], command: Command) {
  const state = fold(events);
  return { then: () => decide(command, state, ctx()), state };
}

function refused(fn: () => unknown): CatalogError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CatalogError) return err;
    throw err;
  }
  throw new Error("expected the command to be refused");
}

const fields = { name: "Kettle", description: "1.7 l", priceCents: 3999, currency: "EUR", category: "kitchen" };

describe("decide", () => {
  test("when a new product is created, then ProductCreated v1 carries the full state", () => {
    expect(given([], { type: "CreateProduct", id: "kettle", fields }).then()).toEqual([
      { type: "ProductCreated", data: fields, eventId: "evt-1", productId: "kettle", version: 1, schemaVersion: 1, occurredAt: T1 },
    ]);
  });

  test("when an existing product is created again, then it is refused with ALREADY_EXISTS and its version", () => {
    const err = refused(given([created(), updated(2, { priceCents: 1 })], { type: "CreateProduct", id: "kettle", fields }).then);
    expect({ code: err.code, status: err.status, details: err.details }).toEqual({ code: "ALREADY_EXISTS", status: 409, details: { currentVersion: 2 } });
  });

  test("when a deleted product is created again, then the stream goes on at the next version", () => {
    const [event] = given([created(), deleted(2)], { type: "CreateProduct", id: "kettle", fields }).then();
    expect(event).toMatchObject({ type: "ProductCreated", version: 3 });
  });

  test("when a product is replaced, then ProductUpdated lists only the changed fields", () => {
    const { category: _removed, ...next } = { ...fields, priceCents: 2999 };
    expect(given([created()], { type: "ReplaceProduct", id: "kettle", fields: next }).then()).toEqual([
      { type: "ProductUpdated", data: { priceCents: 2999, category: null }, eventId: "evt-1", productId: "kettle", version: 2, schemaVersion: 1, occurredAt: T1 },
    ]);
  });

  test("when a replace or patch changes nothing, then no event is written", () => {
    expect(given([created()], { type: "ReplaceProduct", id: "kettle", fields }).then()).toEqual([]);
    expect(given([created()], { type: "PatchProduct", id: "kettle", changes: { name: "Kettle" } }).then()).toEqual([]);
  });

  test("when a product is patched, then only the given fields change and null removes the category", () => {
    const [event] = given([created()], { type: "PatchProduct", id: "kettle", changes: { name: "Kettle Pro", category: null } }).then();
    expect(event).toMatchObject({ type: "ProductUpdated", version: 2, data: { name: "Kettle Pro", category: null } });
  });

  test("when a product is deleted, then ProductDeleted is the next version", () => {
    expect(given([created(), updated(2, { name: "x" })], { type: "DeleteProduct", id: "kettle" }).then()).toEqual([
      { type: "ProductDeleted", data: {}, eventId: "evt-1", productId: "kettle", version: 3, schemaVersion: 1, occurredAt: T1 },
    ]);
  });

  describe.each([
    ["ReplaceProduct", { type: "ReplaceProduct", id: "kettle", fields } as Command],
    ["PatchProduct", { type: "PatchProduct", id: "kettle", changes: { priceCents: 1 } } as Command],
    ["DeleteProduct", { type: "DeleteProduct", id: "kettle" } as Command],
  ])("%s", (_name, command) => {
    test("when the product never existed, then NOT_FOUND", () => {
      expect(refused(given([], command).then).code).toBe("NOT_FOUND");
    });
    test("when the product was deleted, then NOT_FOUND", () => {
      expect(refused(given([created(), deleted(2)], command).then).code).toBe("NOT_FOUND");
    });
    test("when If-Match names an older version, then VERSION_CONFLICT with the current version", () => {
      const err = refused(given([created(), updated(2, { name: "y" })], { ...command, expectedVersion: 1 } as Command).then);
      expect({ code: err.code, status: err.status, details: err.details }).toEqual({
        code: "VERSION_CONFLICT",
        status: 412,
        details: { expectedVersion: 1, currentVersion: 2 },
      });
    });
    test("when If-Match names the current version, then the command applies", () => {
      const events = given([created(), updated(2, { name: "y" })], { ...command, expectedVersion: 2 } as Command).then();
      expect(events.map((e) => e.version)).toEqual([3]);
    });
  });
});

describe("evolve", () => {
  test("ProductCreated gives the full state at version 1", () => {
    expect(evolve(null, created())).toEqual({
      id: "kettle", ...fields, version: 1, deleted: false, createdAt: T0, updatedAt: T0,
    });
  });

  test("ProductUpdated changes the named fields, bumps the version and keeps createdAt", () => {
    const state = fold([created(), updated(2, { priceCents: 100, category: null })]);
    expect(toView(state!)).toEqual({ id: "kettle", name: "Kettle", description: "1.7 l", priceCents: 100, currency: "EUR", version: 2, updatedAt: T0 });
    expect(state!.createdAt).toBe(T0);
  });

  test("ProductDeleted keeps the last fields as a tombstone with the delete's version", () => {
    expect(fold([created(), deleted(2)])).toMatchObject({ deleted: true, version: 2, name: "Kettle" });
  });

  test("an update or delete without a prior state is a corrupt stream and throws", () => {
    expect(() => evolve(null, updated(2, {}))).toThrow(/without a prior state/);
    expect(() => evolve(null, deleted(2))).toThrow(/without a prior state/);
  });

  test("decide then evolve: the folded state after a command equals the command's intent", () => {
    const history = [created()];
    const events = decide({ type: "PatchProduct", id: "kettle", changes: { priceCents: 5 } }, fold(history), ctx());
    expect(fold([...history, ...events])).toMatchObject({ priceCents: 5, version: 2, updatedAt: T1 });
  });
});
