// The rules of the cache's one write, as a pure function: what src/infra/lua/cas-rules.lua (the
// rules of cas-set-3.lua and cas-set-many-n.lua) and replace-if-equal-3.lua do to a key, for the
// in-memory twin of the cache (and any other store that must keep the same promise).
// test/integration/ports/product-cache.test.ts runs the same contract against Redis and the twin, and a property test compares the two on random sequences,
// so this file and the scripts cannot drift apart unnoticed.
import type { CacheEntry, StoredEntry, WriteOutcome } from "./ports.ts";

/** The fence epoch stamped on entries written while the namespace had no fence (markers only). */
export const NO_EPOCH = "-";

export type CasMode = "set" | "advance" | "mark";

/**
 * One compare-and-set on a key holding `current` (null: no entry, or one that does not parse),
 * with the namespace's fence at `fenceEpoch` (null: no fence). Returns the outcome, the version the
 * key holds afterwards (0 when fenced), and the entry to store when it changes.
 */
export function casSet(
  current: StoredEntry | null,
  fenceEpoch: string | null,
  entry: CacheEntry,
  mode: CasMode,
  writerEpoch?: string,
): { outcome: WriteOutcome; version: number; store: StoredEntry | null } {
  if (mode === "set" && (fenceEpoch === null || fenceEpoch !== writerEpoch)) return { outcome: "fenced", version: 0, store: null };
  let kind = mode === "mark" ? "m" : entry.kind;
  let payload = mode === "mark" ? "" : entry.payload;
  if (current) {
    if (current.version > entry.version) return { outcome: "older", version: current.version, store: null };
    // Equal: a no-op, except that a "set" replaces a marker of its own version (the marker waits
    // for exactly that data) and re-stamps an entry of another epoch.
    const restamp = mode === "set" && (current.kind === "m" || current.epoch !== fenceEpoch);
    if (current.version === entry.version && !restamp) return { outcome: "older", version: current.version, store: null };
  }
  let outcome: WriteOutcome = "stored";
  // A consumer's state goes over real data of the current epoch only; over anything else it may be
  // older than the truth, so only its version goes in, as a marker.
  const realOfThisEpoch = current !== null && (current.kind === "p" || current.kind === "t") && fenceEpoch !== null && current.epoch === fenceEpoch;
  if (mode === "advance" && !realOfThisEpoch) {
    kind = "m";
    payload = "";
    outcome = "marked";
  }
  return { outcome, version: entry.version, store: { version: entry.version, kind: kind as CacheEntry["kind"], payload, epoch: fenceEpoch ?? NO_EPOCH } };
}

/** The replay's repair: replaces `current` only if it is still exactly `expected` and the fence holds `writerEpoch`. */
export function replaceIfEqual(
  current: StoredEntry | null,
  fenceEpoch: string | null,
  expected: StoredEntry,
  entry: CacheEntry,
  writerEpoch: string,
): { outcome: "replaced" | "changed" | "fenced"; store: StoredEntry | null } {
  if (fenceEpoch === null || fenceEpoch !== writerEpoch) return { outcome: "fenced", store: null };
  const same = current !== null && current.version === expected.version && current.kind === expected.kind && current.epoch === expected.epoch && current.payload === expected.payload;
  if (!same) return { outcome: "changed", store: null };
  return { outcome: "replaced", store: { ...entry, epoch: fenceEpoch } };
}
