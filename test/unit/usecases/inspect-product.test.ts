// The inspector's judgement of each namespace's entry against the events (src/usecases/inspect-product.ts).
import { expect, test } from "bun:test";
import type { ProductEvent } from "../../../src/catalog/events.ts";
import { fold } from "../../../src/catalog/evolve.ts";
import { encodeEntry, decodeEntry } from "../../../src/infra/cache-format.ts";
import { entryFor } from "../../../src/usecases/cache-entry.ts";
import { inspectProduct, type RawEntryView } from "../../../src/usecases/inspect-product.ts";

const at = "2026-11-29T12:00:00.000Z";
const ev = (version: number, type: string, data: Record<string, unknown>): ProductEvent =>
  ({ eventId: crypto.randomUUID(), productId: "p-1", version, type, schemaVersion: 1, occurredAt: at, data }) as unknown as ProductEvent;
const events = [ev(1, "ProductCreated", { name: "Lamp", description: "", priceCents: 100, currency: "EUR" }), ev(2, "ProductUpdated", { priceCents: 150 })];
const truth = entryFor(fold(events)!);
const EPOCH = "abc";
const view = (namespace: string, raw: string | null, fenceEpoch: string | null = EPOCH): RawEntryView => ({ namespace, key: `k:${namespace}`, raw, entry: decodeEntry(raw), fenceEpoch, ttlMs: raw ? 1000 : null });
const stored = (version: number, kind: "p" | "t" | "m" | "n", payload: string, epoch = EPOCH) => encodeEntry({ version, kind, payload, epoch });

test("each status, and only the broken ones need a repair", () => {
  const r = inspectProduct({
    id: "p-1",
    events,
    snapshot: { version: 2, deleted: false },
    entries: [
      view("current", stored(2, "p", truth.payload)),
      view("marker", stored(2, "m", "")),
      view("absent", null),
      view("old-epoch", stored(1, "p", "{}", "zzz")),
      view("behind", stored(1, "p", truth.payload)),
      view("behind-marker", stored(1, "m", "")),
      view("ahead", stored(3, "p", truth.payload)),
      view("wrong", stored(2, "p", truth.payload.replace("150", "151"))),
      view("wrong-kind", stored(2, "t", "")),
      view("unreadable", "garbage"),
      view("no-fence", stored(2, "p", truth.payload), null),
    ],
  });
  expect(Object.fromEntries(r.namespaces.map((n) => [n.namespace, [n.status, n.needsRepair]]))).toEqual({
    current: ["current", false],
    marker: ["current", false],
    absent: ["absent", false],
    "old-epoch": ["other-epoch", false],
    behind: ["behind", true],
    "behind-marker": ["behind", true],
    ahead: ["ahead", true],
    wrong: ["wrong", true],
    "wrong-kind": ["wrong", true],
    unreadable: ["unreadable", true],
    "no-fence": ["other-epoch", false],
  });
  expect(r.behind).toEqual(["behind", "behind-marker", "ahead", "wrong", "wrong-kind", "unreadable"]);
  expect([r.version, r.deleted, r.snapshotBehind, r.events.length]).toEqual([2, false, false, 2]);
  expect(r.namespaces.find((n) => n.namespace === "unreadable")!.unreadable).toBe("garbage");
});

test("the snapshot is judged too; an unknown id is right only as \"no such product\" or nothing", () => {
  expect(inspectProduct({ id: "p-1", events, snapshot: { version: 1, deleted: false }, entries: [] }).snapshotBehind).toBe(true);
  expect(inspectProduct({ id: "p-1", events, snapshot: null, entries: [] }).snapshotBehind).toBe(true);
  const unknown = inspectProduct({ id: "x", events: [], snapshot: null, entries: [view("n", stored(0, "n", "")), view("stale", stored(1, "p", "{}")), view("none", null)] });
  expect(unknown.namespaces.map((n) => n.status)).toEqual(["current", "ahead", "absent"]);
  expect([unknown.version, unknown.snapshotBehind, unknown.behind]).toEqual([0, false, ["stale"]]);
});
