// What a consumer accepts from the topic, and what it writes for each mode.
import { describe, expect, test } from "bun:test";
import { decodeEvent, entryForEvent } from "../../src/usecases/decode-event.ts";
import { entryFor } from "../../src/usecases/cache-entry.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const view = { id: "mug", name: "Mug", description: "", priceCents: 900, currency: "EUR", category: "kitchen", version: 2, updatedAt: "2026-01-01T00:00:00.000Z" };
const updated = {
  eventId: "e2",
  productId: "mug",
  version: 2,
  type: "ProductUpdated",
  schemaVersion: 1,
  occurredAt: "2026-01-01T00:00:00.000Z",
  data: { priceCents: 900 },
  state: view,
};
const deleted = { ...updated, version: 3, type: "ProductDeleted", data: {}, state: null };
const decode = (value: unknown, key: string | null = "mug") => decodeEvent(key === null ? null : enc(key), enc(typeof value === "string" ? value : JSON.stringify(value)));

describe("decodeEvent", () => {
  test("accepts a well-formed envelope", () => {
    expect(decode(updated)).toEqual({ ok: true, envelope: updated as never });
    expect(decode(deleted)).toEqual({ ok: true, envelope: deleted as never });
  });

  test.each([
    ["no key", updated, null, "missing-key"],
    ["an empty key", updated, "", "missing-key"],
    ["malformed JSON", "{nope", "mug", "malformed-json"],
    ["a JSON array", [1], "mug", "invalid-envelope"],
    ["an unknown type", { ...updated, type: "ProductRenamed" }, "mug", "unknown-type"],
    ["a newer schema version", { ...updated, schemaVersion: 2 }, "mug", "future-schema"],
    ["a key that is not the product id", updated, "cup", "key-mismatch"],
    ["a fractional version", { ...updated, version: 1.5 }, "mug", "invalid-envelope"],
    ["a bad occurredAt", { ...updated, occurredAt: "yesterday" }, "mug", "invalid-envelope"],
    ["a state of another version", { ...updated, state: { ...view, version: 1 } }, "mug", "invalid-envelope"],
    ["a state after a delete", { ...deleted, state: view }, "mug", "invalid-envelope"],
    ["no state after an update", { ...updated, state: null }, "mug", "invalid-envelope"],
  ] as const)("refuses %s as poison", (_what, value, key, reason) => {
    const d = decode(value, key);
    expect(d.ok ? "accepted" : d.reason).toBe(reason);
  });
});

describe("events from another version of the producer (a rolling deploy)", () => {
  test("a newer schema or an unknown type is poison that still names a fence: its product and version", () => {
    for (const value of [{ ...updated, schemaVersion: 2 }, { ...updated, type: "ProductRenamed" }, { schemaVersion: 9, productId: "mug", version: 2, type: "Whatever" }]) {
      const d = decode(value);
      expect(d.ok ? null : d.fence).toEqual({ productId: "mug", version: 2 });
    }
  });

  test("no fence when the product or version cannot be trusted", () => {
    for (const [value, key] of [[{ ...updated, schemaVersion: 2 }, "cup"], [{ ...updated, type: "X", version: 0 }, "mug"], [{ ...updated, type: "X", productId: "" }, "mug"]] as const) {
      const d = decode(value, key);
      expect(d.ok ? "accepted" : (d.fence ?? "no fence")).toBe("no fence");
    }
  });
});

describe("entryForEvent", () => {
  test("rebuild stores the state exactly as the api would, whatever the key order it travelled in", () => {
    const shuffled = Object.fromEntries(Object.entries(view).reverse());
    const entry = entryForEvent({ ...updated, state: shuffled } as never, "rebuild");
    expect(entry).toEqual(entryFor({ ...view, deleted: false, createdAt: "2025-01-01T00:00:00.000Z" }));
  });

  test("rebuild stores a tombstone for a delete; evict stores a marker of the event's version", () => {
    expect(entryForEvent(deleted as never, "rebuild")).toEqual({ version: 3, kind: "t", payload: "" });
    expect(entryForEvent(updated as never, "evict")).toEqual({ version: 2, kind: "m", payload: "" });
    expect(entryForEvent(deleted as never, "evict")).toEqual({ version: 3, kind: "m", payload: "" });
  });
});
