// What a consumer accepts from the topic, and how an event becomes a cache entry. Pure.
import { EVENT_TYPES, SCHEMA_VERSION, type EventEnvelope } from "../catalog/events.ts";
import type { ProductView } from "../catalog/product.ts";
import { entryForView, marker, tombstone } from "./cache-entry.ts";
import type { CacheEntry } from "./ports.ts";

export type ConsumerMode = "rebuild" | "evict";

/** Poison reasons are stable words (metric label, DLQ header); `detail` says more. */
export type PoisonReason = "missing-key" | "malformed-json" | "invalid-envelope" | "unknown-type" | "future-schema" | "key-mismatch";
/**
 * `fence`: an event this consumer cannot read (a newer schema, an unknown type: another version of
 * the producer during a rolling deploy) whose product and version it can still read; it still
 * fences the cache with a marker of that version.
 */
export type Decoded =
  | { ok: true; envelope: EventEnvelope }
  | { ok: false; reason: PoisonReason; detail: string; fence?: { productId: string; version: number } };

const isPositiveInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 1;
const poison = (reason: PoisonReason, detail: string): Decoded => ({ ok: false, reason, detail });

function invalidState(state: unknown, productId: string, version: number): string | null {
  if (typeof state !== "object" || state === null) return "state must be an object";
  const s = state as Partial<ProductView>;
  if (s.id !== productId) return "state.id differs from productId";
  if (s.version !== version) return "state.version differs from version";
  if (typeof s.name !== "string" || typeof s.currency !== "string" || typeof s.description !== "string") return "state fields missing";
  if (typeof s.priceCents !== "number" || typeof s.updatedAt !== "string") return "state fields missing";
  return null;
}

export function decodeEvent(key: Uint8Array | null, value: Uint8Array | null): Decoded {
  if (!key || key.length === 0) return poison("missing-key", "the message has no key");
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(value ?? new Uint8Array()));
  } catch (err) {
    return poison("malformed-json", (err as Error).message);
  }
  if (typeof parsed !== "object" || parsed === null) return poison("invalid-envelope", "the value is not an object");
  const e = parsed as Partial<EventEnvelope>;
  if (!isPositiveInt(e.schemaVersion)) return poison("invalid-envelope", "schemaVersion must be a positive integer");
  const fence = typeof e.productId === "string" && e.productId !== "" && e.productId === new TextDecoder().decode(key) && isPositiveInt(e.version) ? { productId: e.productId, version: e.version } : undefined;
  if (e.schemaVersion > SCHEMA_VERSION) {
    return { ...poison("future-schema", `schema version ${e.schemaVersion} is newer than ${SCHEMA_VERSION}, the newest this consumer reads`), fence } as Decoded;
  }
  if (typeof e.type !== "string" || !EVENT_TYPES.includes(e.type)) return { ...poison("unknown-type", `unknown event type ${JSON.stringify(e.type)}`), fence } as Decoded;
  if (typeof e.productId !== "string" || e.productId === "") return poison("invalid-envelope", "productId missing");
  if (!isPositiveInt(e.version)) return poison("invalid-envelope", "version must be a positive integer");
  if (typeof e.occurredAt !== "string" || Number.isNaN(Date.parse(e.occurredAt))) return poison("invalid-envelope", "occurredAt must be an ISO time");
  if (new TextDecoder().decode(key) !== e.productId) return poison("key-mismatch", "the key differs from productId");
  if (e.type === "ProductDeleted") {
    if (e.state !== null) return poison("invalid-envelope", "state must be null after a delete");
  } else {
    const bad = invalidState(e.state, e.productId, e.version);
    if (bad) return poison("invalid-envelope", bad);
  }
  return { ok: true, envelope: e as EventEnvelope };
}

/** rebuild: the state after the event (or a tombstone); evict: a versioned invalidation marker. */
export function entryForEvent(envelope: EventEnvelope, mode: ConsumerMode): CacheEntry {
  if (mode === "evict") return marker(envelope.version);
  return envelope.state === null ? tombstone(envelope.version) : entryForView(envelope.state);
}
