// The near cache (L1): a bounded, in-process copy of the entries this process read or wrote,
// kept right by the namespace's change feed. It wraps any ProductCache and is one itself, so the
// read path does not know it is there, except that an answer from it says so (`l1: true`).
//
// What keeps it right:
// - Versions. Every change message carries the product id and its new version; an L1 entry below
//   it is dropped (one of the same version holds the same event's data; an entry of another fence
//   epoch is never answered). An entry read from Redis (or written) while a change of that id with a
//   higher version arrived is not kept: the read may predate the change. This is the same rule as
//   the compare-and-set's "never older", applied to the process's copy.
// - Gaps. The feed reports a gap when a message may have been lost (a reconnect, a sequence that
//   skipped); then everything is dropped. While the feed is not healthy (not subscribed, or silent
//   longer than its heartbeat bound) L1 is bypassed and empty.
// - Staleness. An entry older than `maxStalenessMs` is read again from Redis.
// - The fence. An epoch change drops everything, and while the fence is not verified L1 answers
//   nothing (the wrapped cache throws, as without L1).
// - The read barrier (`readBarrier`, on by default). Without it, L1 answers at once, and another
//   instance's L1 (or Redis) may already hold a newer version for as long as the change message
//   takes to arrive: a client going from one instance to the other can see an older version after
//   a newer one. With it, each answer first reads where the entry's part of the namespace stands
//   (its fence and change sequence, one read shared by the requests of one event-loop turn): L1
//   answers only when nothing changed there since the entry was read from Redis, or when the feed
//   delivered every change since, none of which was this entry's. Otherwise it reads Redis. So an
//   answer is never older than what Redis held when the request arrived: linearizable, across
//   instances, at the cost of one shared round trip.
import type { CasResult, ChangeFeed, ProductCache, Stamp, StoredEntry } from "./ports.ts";

export type NearCacheOptions = {
  maxEntries: number;
  maxBytes: number;
  maxStalenessMs: number;
  /** See the read barrier above; default true. The wrapped cache must then implement stampOf and getStamped. */
  readBarrier?: boolean;
  now?: () => number;
};

export type NearCacheStats = { entries: number; bytes: number; hits: number; misses: number; dropped: number; gaps: number; bypassed: number };

/** `stamp`: where the entry's part of the namespace stood when the entry was read (read barrier). */
type Slot = { entry: StoredEntry; at: number; bytes: number; stamp?: Stamp };
/** The last change seen of an id: when (a counter of messages) and the highest version. */
type Change = { gen: number; version: number };

const sizeOf = (id: string, e: StoredEntry) => 2 * (id.length + e.payload.length + e.epoch.length) + 64;

export function withNearCache(inner: ProductCache, feed: ChangeFeed, options: NearCacheOptions): ProductCache & { stats(): NearCacheStats; clear(): void } {
  const now = options.now ?? (() => performance.now());
  const barrier = options.readBarrier ?? true;
  if (barrier && (!inner.stampOf || !inner.getStamped)) throw new Error("a near cache with a read barrier needs a cache with stampOf and getStamped");
  // Per change sequence, the run of messages received without a gap: seqs `from`..`applied`.
  const runs = new Map<string, { from: number; applied: number }>();
  const slots = new Map<string, Slot>(); // insertion order is recency: a hit moves the id to the end
  let bytes = 0;
  const stats = { hits: 0, misses: 0, dropped: 0, gaps: 0, bypassed: 0 };
  // Change bookkeeping, bounded like the entries: forgetting an id's change makes every read that
  // began before the forgetting unable to fill (conservative, never wrong).
  let gen = 0;
  const changes = new Map<string, Change>();
  const maxChanges = Math.max(1024, options.maxEntries * 2);
  let forgottenUpTo = 0; // the newest gen among forgotten changes
  let clearedAt = 0; // reads that began before this gen may not fill

  function drop(id: string) {
    const s = slots.get(id);
    if (!s) return;
    slots.delete(id);
    bytes -= s.bytes;
    stats.dropped++;
  }
  function clear() {
    slots.clear();
    runs.clear();
    bytes = 0;
    clearedAt = ++gen;
  }
  /**
   * May an entry read at `slot.stamp` answer at `at` (the barrier's read)? Yes when nothing changed
   * under its fence since, or the feed delivered every change since without a gap: a change of
   * this entry would have dropped it.
   */
  function currentAt(slot: Slot, at: Stamp): boolean {
    const read = slot.stamp;
    if (!read || read.fence !== at.fence || read.source !== at.source || at.seq < read.seq) return false;
    if (at.seq === read.seq) return true;
    const run = runs.get(at.source);
    return run !== undefined && run.from <= read.seq + 1 && run.applied >= at.seq;
  }
  function mayKeep(id: string, since: number, version: number): boolean {
    if (clearedAt > since) return false;
    const c = changes.get(id);
    if (c) return !(c.gen > since && c.version > version);
    return forgottenUpTo <= since;
  }
  function keep(id: string, entry: StoredEntry, since: number, stamp?: Stamp) {
    if (entry.kind === "m" || !mayKeep(id, since, entry.version)) return;
    if (barrier && !stamp) return drop(id); // a write's result: the next read stamps it
    const held = slots.get(id);
    if (held && held.entry.version > entry.version) return; // never older than what L1 holds
    drop(id);
    const slot: Slot = { entry: { version: entry.version, kind: entry.kind, payload: entry.payload, epoch: entry.epoch }, at: now(), bytes: sizeOf(id, entry), stamp };
    if (slot.bytes > options.maxBytes) return;
    slots.set(id, slot);
    bytes += slot.bytes;
    while (slots.size > options.maxEntries || bytes > options.maxBytes) {
      const oldest = slots.keys().next().value as string;
      drop(oldest);
    }
  }
  /** The L1 entry of `id` if it may answer now (touching it), else null. */
  function lookup(id: string, minVersion?: number): StoredEntry | null {
    const s = slotOf(id, minVersion);
    return s ? { ...s.entry, l1: true } : null;
  }
  /** The slot of `id` if it may answer now (touching it), else null. */
  function slotOf(id: string, minVersion?: number): Slot | null {
    const s = slots.get(id);
    if (!s) return null;
    if (now() - s.at > options.maxStalenessMs || s.entry.epoch !== inner.epoch()) {
      drop(id);
      return null;
    }
    if (minVersion !== undefined && s.entry.version < minVersion) return null;
    slots.delete(id);
    slots.set(id, s);
    return s;
  }
  /** L1 answers only while the feed is healthy and the fence verified; otherwise it empties. */
  function usable(): boolean {
    if (feed.healthy() && inner.epoch() !== null) return true;
    if (slots.size) clear();
    stats.bypassed++;
    return false;
  }

  feed.listen({
    change(id, version, at) {
      if (at) {
        const run = runs.get(at.source);
        if (run && at.seq === run.applied + 1) run.applied = at.seq;
        else runs.set(at.source, { from: at.seq, applied: at.seq }); // the feed reports a skip as a gap first
      }
      const c = changes.get(id);
      changes.delete(id);
      changes.set(id, { gen: ++gen, version: Math.max(version, c?.version ?? 0) });
      while (changes.size > maxChanges) {
        const [oldest, forgotten] = changes.entries().next().value as [string, Change];
        changes.delete(oldest);
        forgottenUpTo = Math.max(forgottenUpTo, forgotten.gen);
      }
      const s = slots.get(id);
      if (s && s.entry.version < version) drop(id);
    },
    gap() {
      stats.gaps++;
      clear();
    },
  });
  inner.onEpochChange(() => clear());

  const afterWrites = (items: readonly { id: string; entry: { version: number; kind: StoredEntry["kind"]; payload: string } }[], results: CasResult[], epoch: string, since: number) => {
    items.forEach(({ id, entry }, i) => {
      if (results[i]?.outcome === "stored") keep(id, { ...entry, epoch }, since);
      else drop(id);
    });
    return results;
  };

  /** With the barrier: L1's answer if it is current when the barrier's read returns, else Redis's (stamped). */
  async function getBehindBarrier(id: string, minVersion?: number): Promise<StoredEntry | null> {
    if (usable()) {
      const candidate = slotOf(id, minVersion);
      if (candidate) {
        const at = await inner.stampOf!(id);
        if (slots.get(id) === candidate && currentAt(candidate, at) && usable()) {
          candidate.stamp = at;
          stats.hits++;
          return { ...candidate.entry, l1: true };
        }
      }
      stats.misses++;
    }
    const since = gen;
    const { entry, stamp } = await inner.getStamped!(id);
    if (entry && usable()) keep(id, entry, since, stamp);
    return entry;
  }

  return {
    peek: (id, minVersion) => {
      if (barrier || !usable()) return null;
      const hit = lookup(id, minVersion);
      if (hit) stats.hits++;
      return hit;
    },
    epoch: () => inner.epoch(),
    whenReady: (ms) => inner.whenReady(ms),
    async get(id, minVersion) {
      if (barrier) return getBehindBarrier(id, minVersion);
      if (usable()) {
        const hit = lookup(id, minVersion);
        if (hit) {
          stats.hits++;
          return hit;
        }
        stats.misses++;
      }
      const since = gen;
      const entry = await inner.get(id, minVersion);
      if (entry && usable()) keep(id, entry, since);
      return entry;
    },
    async getMany(ids) {
      if (barrier || !usable()) return inner.getMany(ids); // batch reads: L1 only without the barrier
      const out: (StoredEntry | null)[] = ids.map((id) => lookup(id));
      const missing = ids.filter((_, i) => out[i] === null);
      stats.hits += ids.length - missing.length;
      stats.misses += missing.length;
      if (missing.length === 0) return out;
      const since = gen;
      const read = await inner.getMany(missing);
      const fresh = usable();
      let j = 0;
      ids.forEach((id, i) => {
        if (out[i] !== null) return;
        const e = read[j++] ?? null;
        out[i] = e;
        if (e && fresh) keep(id, e, since);
      });
      return out;
    },
    async put(id, entry, epoch) {
      const since = gen;
      const result = await inner.put(id, entry, epoch);
      afterWrites([{ id, entry }], [result], epoch, since);
      return result;
    },
    async putMany(items, epoch) {
      const since = gen;
      return afterWrites(items, await inner.putMany(items, epoch), epoch, since);
    },
    async advance(items) {
      const results = await inner.advance(items);
      for (const { id } of items) drop(id);
      return results;
    },
    async mark(items) {
      const results = await inner.mark(items);
      for (const { id } of items) drop(id);
      return results;
    },
    async replaceIfEqual(id, expected, entry, epoch) {
      const result = await inner.replaceIfEqual(id, expected, entry, epoch);
      drop(id);
      return result;
    },
    acquireLease: (id, token, ttl) => inner.acquireLease(id, token, ttl),
    releaseLease: (id, token) => inner.releaseLease(id, token),
    ping: () => inner.ping(),
    onReady: (l) => inner.onReady(l),
    onEpochChange: (l) => inner.onEpochChange(l),
    stats: () => ({ entries: slots.size, bytes, ...stats }),
    clear,
  };
}
