// A read barrier's reads, shared: concurrent callers of one key share one read, but a caller never
// gets a read that was already on its way when it called (that read may predate what the caller
// has seen, such as another instance's answer). While one read is in flight, callers queue for
// the next one, sent when it returns.
export function coalescedReads<K, T>(read: (key: K) => Promise<T>): { next(key: K): Promise<T> } {
  const inFlight = new Map<K, Promise<T>>();
  const queued = new Map<K, Promise<T>>();
  const send = (key: K): Promise<T> => {
    const p: Promise<T> = read(key).finally(() => {
      if (inFlight.get(key) === p) inFlight.delete(key);
    });
    inFlight.set(key, p);
    return p;
  };
  return {
    next(key) {
      const current = inFlight.get(key);
      if (!current) return send(key);
      let later = queued.get(key);
      if (!later) {
        const settled = current.then(
          () => {},
          () => {},
        );
        later = settled.then(() => {
          queued.delete(key);
          return send(key);
        });
        queued.set(key, later);
      }
      return later;
    },
  };
}
