// A consumer's lag on a partition, as its latest batch saw it: the partition's high watermark (from
// the fetch that brought the batch, no request of its own) minus the offset after the batch's last
// message. Measured this way, with nothing but what the member already has, because asking the
// broker (an admin client's offset requests every few seconds) was seen here to pile up clients and
// load while the broker restarted, and librdkafka's coordinator requests of the admin API abort the
// process when a broker restarts under them (librdkafka issues 3663 and 4605). The relay publishes
// in transactions, whose commit marker takes an offset of its own after the last message: a
// caught-up partition shows 1 when its last write was such a transaction.
export function batchLag(highWatermark: string, lastOffset: string): number | null {
  if (!/^\d+$/.test(highWatermark) || !/^\d+$/.test(lastOffset)) return null; // unknown (-1001, "")
  const high = Number(highWatermark);
  const last = Number(lastOffset);
  return Math.max(0, high - (last + 1));
}

/** The lags of the partitions this member consumed, and their sum. */
export function lagSummary(byPartition: ReadonlyMap<number, number>): { total: number; partitions: Record<string, number> } {
  const partitions: Record<string, number> = {};
  let total = 0;
  for (const [p, n] of [...byPartition].sort((a, b) => a[0] - b[0])) {
    partitions[String(p)] = n;
    total += n;
  }
  return { total, partitions };
}

/**
 * Forgets the lag of every partition not in `assigned` (a rebalance gave it to another member, or
 * the member has none now) and returns those partitions: a member reports only what it consumes,
 * so the lags of a group's members add up without counting a partition twice.
 */
export function pruneLags(byPartition: Map<number, number>, assigned: readonly number[]): number[] {
  const keep = new Set(assigned);
  const gone = [...byPartition.keys()].filter((p) => !keep.has(p));
  for (const p of gone) byPartition.delete(p);
  return gone;
}
