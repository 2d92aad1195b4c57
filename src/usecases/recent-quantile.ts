// A quantile over the most recent samples (a ring of fixed size): the commit-to-cache p99 a consumer
// puts in its heartbeat for the console. Prometheus has the histogram; this is the number at a glance.
// Erasable TypeScript: the consumers (Node 24) import it.

export function recentQuantile(size = 1024) {
  const ring = new Float64Array(size);
  let count = 0;
  let next = 0;
  return {
    add(value: number) {
      ring[next] = value;
      next = (next + 1) % size;
      if (count < size) count++;
    },
    /** The q-quantile (0 < q <= 1, nearest rank) of the samples kept; null before the first. */
    quantile(q: number): number | null {
      if (count === 0) return null;
      const sorted = ring.slice(0, count).sort();
      return sorted[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))]!;
    },
    get count() {
      return count;
    },
  };
}
