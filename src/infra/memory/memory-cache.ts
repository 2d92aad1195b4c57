// The in-memory twin of the Redis cache: a "server" (entries, fences, leases, a clock) shared by
// any number of ProductCache adapters, one per simulated process and namespace. Every write goes
// through the rules of src/usecases/cache-rules.ts, the same ones the Lua scripts apply; the
// contract suite test/integration/ports/product-cache.test.ts holds both to them.
//
// Values are kept encoded, as Redis keeps them, and read back through the one codec (a value that
// does not parse is a miss there as here).
//
// What a test can do to the server: lose its data (a flush or a restart without persistence: the
// fences go too, so every adapter arms a new epoch at its next call), take it down and up again
// (calls throw CacheUnavailableError meanwhile), and move its clock (entries and leases expire).
import { casSet, replaceIfEqual } from "../../usecases/cache-rules.ts";
import { decodeEntry, encodeEntry } from "../cache-format.ts";
import { CacheUnavailableError, type CacheEntry, type CasResult, type ProductCache, type Stamp, type StoredEntry, type WriteOutcome } from "../../usecases/ports.ts";

type Slot<T> = { value: T; expiresAt: number | null };

export type MemoryCacheServer = {
  /** Entries by namespace and id (a copy, for assertions). */
  entries(namespace: string): Map<string, StoredEntry>;
  /** Puts a raw entry, as a tampering test would with redis-cli. */
  plant(namespace: string, id: string, entry: StoredEntry | null): void;
  /** Everything gone, fences included (FLUSHALL, or a restart without persistence). */
  loseData(): void;
  /**
   * A restart that kept the data (or a replica promoted): the fences no longer hold, since writes
   * of the last moments may be missing, so the next verification arms a new epoch.
   */
  restart(): void;
  /** Calls fail with CacheUnavailableError until up() (and the adapters re-verify their fence). */
  down(): void;
  up(): void;
  /** Moves the clock on: entries and leases past their time expire. */
  advanceClock(ms: number): void;
  now(): number;
  /** Commands the adapters sent, by name (for tests that count round trips). */
  readonly calls: Map<string, number>;
  /** @internal used by the adapters */
  internal: {
    available(): boolean;
    get(key: string): StoredEntry | null;
    set(key: string, value: StoredEntry, ttlMs: number): void;
    fence(namespace: string): string | null;
    /** The namespace's change sequence (the Lua scripts' INCR beside the fence): read, and count one more change. */
    seq(namespace: string): number;
    bump(namespace: string): void;
    armFence(namespace: string): { epoch: string; previous: string | null; armed: boolean };
    setNx(key: string, token: string, ttlMs: number): boolean;
    delIfEqual(key: string, token: string): void;
    count(name: string): void;
    /** Like the Redis client's "close" and "ready" events. */
    subscribe(listener: { down(): void; up(): void }): void;
  };
};

export function createMemoryCacheServer(options: { now?: number } = {}): MemoryCacheServer {
  let clock = options.now ?? 1_000_000;
  let entries = new Map<string, Slot<string>>();
  let leases = new Map<string, Slot<string>>();
  let fences = new Map<string, string>();
  let seqs = new Map<string, number>();
  let epochs = 0;
  let isUp = true;
  const listeners: { down(): void; up(): void }[] = [];
  const calls = new Map<string, number>();

  const live = <T>(map: Map<string, Slot<T>>, key: string): T | null => {
    const slot = map.get(key);
    if (!slot) return null;
    if (slot.expiresAt !== null && slot.expiresAt <= clock) {
      map.delete(key);
      return null;
    }
    return slot.value;
  };
  const keyOf = (namespace: string, id: string) => `${namespace}\u0000${id}`;

  return {
    entries(namespace) {
      const out = new Map<string, StoredEntry>();
      for (const k of [...entries.keys()]) {
        const [ns, id] = k.split("\u0000") as [string, string];
        const v = decodeEntry(live(entries, k));
        if (ns === namespace && v) out.set(id, v);
      }
      return out;
    },
    plant(namespace, id, entry) {
      if (entry === null) entries.delete(keyOf(namespace, id));
      else entries.set(keyOf(namespace, id), { value: encodeEntry(entry), expiresAt: null });
    },
    loseData() {
      entries = new Map();
      leases = new Map();
      fences = new Map();
      seqs = new Map();
    },
    restart() {
      fences = new Map();
    },
    down() {
      isUp = false;
      for (const l of listeners) l.down();
    },
    up() {
      isUp = true;
      for (const l of listeners) l.up();
    },
    advanceClock(ms) {
      clock += ms;
    },
    now: () => clock,
    calls,
    internal: {
      available: () => isUp,
      get: (key) => decodeEntry(live(entries, key)),
      set(key, value, ttlMs) {
        entries.set(key, { value: encodeEntry(value), expiresAt: ttlMs > 0 ? clock + ttlMs : null });
      },
      fence: (namespace) => fences.get(namespace) ?? null,
      seq: (namespace) => seqs.get(namespace) ?? 0,
      bump(namespace) {
        seqs.set(namespace, (seqs.get(namespace) ?? 0) + 1);
      },
      armFence(namespace) {
        const current = fences.get(namespace);
        if (current) return { epoch: current, previous: current, armed: false };
        const epoch = `e${(++epochs).toString(36)}`;
        fences.set(namespace, epoch);
        return { epoch, previous: null, armed: true };
      },
      setNx(key, token, ttlMs) {
        if (live(leases, key) !== null) return false;
        leases.set(key, { value: token, expiresAt: clock + ttlMs });
        return true;
      },
      delIfEqual(key, token) {
        if (live(leases, key) === token) leases.delete(key);
      },
      count(name) {
        calls.set(name, (calls.get(name) ?? 0) + 1);
      },
      subscribe(listener) {
        listeners.push(listener);
      },
    },
  };
}

export type MemoryCacheOptions = { namespace: string; ttlSeconds: number; negativeTtlSeconds?: number };

/**
 * One process's adapter of one namespace. Its fence state behaves as the Redis adapter's: null
 * until verified; verified at creation, after the server comes back up, and whenever a write finds
 * the fence moved or missing. Between those, it serves under the epoch it knows, as the Redis
 * adapter does between its periodic checks.
 */
export function createMemoryCache(server: MemoryCacheServer, options: MemoryCacheOptions): ProductCache {
  const s = server.internal;
  const ns = options.namespace;
  const ttlMs = options.ttlSeconds * 1000;
  const negativeTtlMs = (options.negativeTtlSeconds ?? 30) * 1000;
  const ttlOf = (e: CacheEntry) => (e.kind === "n" ? negativeTtlMs : ttlMs);
  const key = (id: string) => `${ns}\u0000${id}`;
  const leaseKey = (id: string) => `${ns}\u0000lease\u0000${id}`;
  let epoch: string | null = null;
  const readyListeners: (() => void)[] = [];
  const epochListeners: ((epoch: string, previous: string | null) => void)[] = [];
  let waiters: (() => void)[] = [];

  function verify() {
    if (!s.available()) return;
    const { epoch: verified, previous, armed } = s.armFence(ns);
    const before = epoch;
    epoch = verified;
    if (armed || (before !== null && before !== verified)) for (const l of epochListeners) l(verified, armed ? previous ?? before : before);
    if (before === null) {
      for (const l of readyListeners) l();
      const w = waiters;
      waiters = [];
      for (const resolve of w) resolve();
    }
  }
  function usable(name: string) {
    s.count(name);
    if (!s.available()) throw new CacheUnavailableError("the in-memory cache server is down");
    if (epoch === null) throw new CacheUnavailableError(`the cache fence of ${ns} is not verified`);
  }
  const afterWrite = (results: { outcome: WriteOutcome; fenceSeen: string | null }[]) => {
    if (results.some((r) => r.outcome === "fenced" || r.fenceSeen === null || r.fenceSeen !== epoch)) verify();
  };
  const cas = (id: string, entry: CacheEntry, mode: "set" | "advance" | "mark", writerEpoch?: string) => {
    const fence = s.fence(ns);
    const r = casSet(s.get(key(id)), fence, entry, mode, writerEpoch);
    if (r.store) {
      s.set(key(id), r.store, ttlOf(r.store));
      s.bump(ns);
    }
    return { result: { applied: r.outcome === "stored" || r.outcome === "marked", version: r.version, outcome: r.outcome } as CasResult, fenceSeen: fence };
  };
  /** The namespace's fence and change count now (one fence, one sequence: the namespace). */
  const stampNow = (): Stamp => ({ source: ns, fence: s.fence(ns) ?? "", seq: s.seq(ns) });
  const many = (items: { id: string; entry: CacheEntry }[], mode: "set" | "advance" | "mark", writerEpoch?: string) => {
    const out = items.map(({ id, entry }) => cas(id, entry, mode, writerEpoch));
    afterWrite(out.map((o) => ({ outcome: o.result.outcome, fenceSeen: o.fenceSeen })));
    return out.map((o) => o.result);
  };

  s.subscribe({
    down: () => {
      epoch = null;
    },
    up: verify,
  });
  verify();
  // Each method is async like the real adapter's, so callers interleave the same way.
  return {
    epoch: () => epoch,
    async whenReady(timeoutMs) {
      if (epoch !== null) return true;
      return new Promise<boolean>((resolve) => {
        const timeout = setTimeout(() => resolve(false), timeoutMs);
        waiters.push(() => {
          clearTimeout(timeout);
          resolve(true);
        });
      });
    },
    async get(id) {
      usable("get");
      return s.get(key(id));
    },
    async stampOf() {
      usable("stamp");
      return stampNow();
    },
    async getStamped(id) {
      usable("get");
      return { entry: s.get(key(id)), stamp: stampNow() };
    },
    async getMany(ids) {
      usable("mget");
      return ids.map((id) => s.get(key(id)));
    },
    async put(id, entry, writerEpoch) {
      usable("cas");
      return many([{ id, entry }], "set", writerEpoch)[0]!;
    },
    async putMany(items, writerEpoch) {
      usable("cas");
      return many([...items], "set", writerEpoch);
    },
    async advance(items) {
      usable("cas");
      return many([...items], "advance");
    },
    async mark(items) {
      usable("cas");
      return many(
        items.map(({ id, version }) => ({ id, entry: { version, kind: "m" as const, payload: "" } })),
        "mark",
      );
    },
    async replaceIfEqual(id, expected, entry, writerEpoch) {
      usable("replaceIfEqual");
      const r = replaceIfEqual(s.get(key(id)), s.fence(ns), expected, entry, writerEpoch);
      if (r.store) {
        s.set(key(id), r.store, ttlMs);
        s.bump(ns);
      }
      if (r.outcome === "fenced") verify();
      return r.outcome;
    },
    async acquireLease(id, token, ttl) {
      usable("lease");
      return s.setNx(leaseKey(id), token, ttl);
    },
    async releaseLease(id, token) {
      s.count("release");
      if (!s.available()) throw new CacheUnavailableError("the in-memory cache server is down");
      s.delIfEqual(leaseKey(id), token);
    },
    async ping() {
      if (!s.available()) throw new CacheUnavailableError("the in-memory cache server is down");
    },
    onReady(listener) {
      readyListeners.push(listener);
    },
    onEpochChange(listener) {
      epochListeners.push(listener);
    },
  };
}
