// A read barrier's reads, shared: the callers of one key in one turn of the event loop share one
// read, sent when the turn's callbacks have run (setImmediate), so after every caller that shares
// it had called. A caller never gets a read that was already on its way when it called (that read
// may predate what the caller has seen, such as another instance's answer). Reads of successive
// turns may be in flight together; on one connection their replies come back in order.
//
// Why per turn (bench/await-cost.ts, 2026-11-29 18:56-19:00 UTC): an Elysia route awaiting this
// served 0.74× the synchronous route, against 0.59-0.64× when later callers queued behind the read
// in flight for the next one (the wait of up to two round trips, not the reads, was the cost).
export function coalescedReads<K, T>(read: (key: K) => Promise<T>): { next(key: K): Promise<T> } {
  const pending = new Map<K, Promise<T>>(); // not sent yet: joinable
  return {
    next(key) {
      let p = pending.get(key);
      if (!p) {
        p = new Promise<T>((resolve, reject) => {
          setImmediate(() => {
            pending.delete(key);
            try {
              read(key).then(resolve, reject);
            } catch (err) {
              reject(err);
            }
          });
        });
        pending.set(key, p);
      }
      return p;
    },
  };
}
