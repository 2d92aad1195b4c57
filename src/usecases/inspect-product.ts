// Where each service's cache stands for one product, against the event store: the view of
// GET /admin/products/:id/cache and of the console's inspector. Pure: the adapters read the events,
// the snapshot and each namespace's raw entry; this judges them.
import type { ProductEvent } from "../catalog/events.ts";
import { fold } from "../catalog/evolve.ts";
import { entryFor } from "./cache-entry.ts";
import type { CacheKind } from "./ports.ts";

/** One namespace's entry for the product, as read from Redis (read-only: nothing is armed or filled). */
export type RawEntryView = {
  namespace: string;
  key: string;
  /** The value: null when the key does not exist. */
  raw: string | null;
  /** The decoded entry, null when absent or unreadable. */
  entry: { version: number; kind: CacheKind; epoch: string; payload: string } | null;
  /** The namespace's fence epoch for this product's bucket (null: no fence, nothing is served). */
  fenceEpoch: string | null;
  /** Milliseconds left before the entry expires (null: absent, or no expiry). */
  ttlMs: number | null;
};

/**
 * How an entry stands:
 * - current: the events' version, the same bytes every writer stores (or the version as a marker);
 * - absent: no entry; the next read fills it;
 * - other-epoch: written before the namespace's fence moved, so never served; the next read fills;
 * - behind: an older version (or "no such product" for a product that exists);
 * - ahead: a version the events do not have (a corrupt write);
 * - wrong: the right version with other bytes;
 * - unreadable: a value that does not decode.
 * behind, ahead, wrong and unreadable are what a repair (an id-scoped replay) is for.
 */
export type EntryStatus = "current" | "absent" | "other-epoch" | "behind" | "ahead" | "wrong" | "unreadable";
const NEEDS_REPAIR: ReadonlySet<EntryStatus> = new Set(["behind", "ahead", "wrong", "unreadable"]);

export type NamespaceView = {
  namespace: string;
  key: string;
  status: EntryStatus;
  needsRepair: boolean;
  version: number | null;
  kind: CacheKind | null;
  epoch: string | null;
  fenceEpoch: string | null;
  ttlMs: number | null;
  /** The stored value's first 200 characters, when it does not decode. */
  unreadable?: string;
};

export type ProductCacheView = {
  id: string;
  /** The version of the product's last event (0: no events, an unknown id). */
  version: number;
  deleted: boolean;
  snapshot: { version: number; deleted: boolean } | null;
  /** The snapshot disagrees with the events (a repair rewrites it). */
  snapshotBehind: boolean;
  events: ProductEvent[];
  namespaces: NamespaceView[];
  /** The namespaces whose entry a repair would rewrite. */
  behind: string[];
};

export function judgeEntry(expected: { version: number; kind: CacheKind; payload: string } | null, view: RawEntryView): EntryStatus {
  if (view.raw === null) return "absent";
  const e = view.entry;
  if (!e) return "unreadable";
  if (view.fenceEpoch === null || e.epoch !== view.fenceEpoch) return "other-epoch";
  const version = expected?.version ?? 0;
  if (e.version < version) return "behind";
  if (e.version > version) return "ahead";
  if (expected === null) return e.kind === "n" ? "current" : "wrong"; // version 0: only "no such product"
  if (e.kind === "m") return "current";
  return e.kind === expected.kind && e.payload === expected.payload ? "current" : "wrong";
}

export function inspectProduct(input: {
  id: string;
  events: readonly ProductEvent[];
  snapshot: { version: number; deleted: boolean } | null;
  entries: readonly RawEntryView[];
}): ProductCacheView {
  const state = input.events.length > 0 ? fold(input.events) : null;
  const expected = state ? entryFor(state) : null;
  const namespaces = input.entries.map((view): NamespaceView => {
    const status = judgeEntry(expected, view);
    return {
      namespace: view.namespace,
      key: view.key,
      status,
      needsRepair: NEEDS_REPAIR.has(status),
      version: view.entry?.version ?? null,
      kind: view.entry?.kind ?? null,
      epoch: view.entry?.epoch ?? null,
      fenceEpoch: view.fenceEpoch,
      ttlMs: view.ttlMs,
      ...(status === "unreadable" ? { unreadable: (view.raw ?? "").slice(0, 200) } : {}),
    };
  });
  const version = state?.version ?? 0;
  const deleted = state?.deleted ?? false;
  return {
    id: input.id,
    version,
    deleted,
    snapshot: input.snapshot,
    snapshotBehind: state === null ? input.snapshot !== null : input.snapshot?.version !== version || input.snapshot.deleted !== deleted,
    events: [...input.events],
    namespaces,
    behind: namespaces.filter((n) => n.needsRepair).map((n) => n.namespace),
  };
}
