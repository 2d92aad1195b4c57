// A consumer group's lag, per partition: the end of the partition as a read_committed consumer
// sees it (the last stable offset) minus the group's committed offset. A partition the group never
// committed counts from its low watermark (the group reads from the beginning). Pure: the Kafka
// adapter (src/infra/kafka.ts) fetches the offsets.

export type PartitionEnd = { partition: number; high: string; low: string };
export type CommittedOffset = { partition: number; offset: string };

export function consumerLag(ends: readonly PartitionEnd[], committed: readonly CommittedOffset[]): { total: number; partitions: Record<string, number> } {
  const byPartition = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
  const partitions: Record<string, number> = {};
  let total = 0;
  for (const end of ends) {
    const high = Number(end.high);
    const low = Number(end.low);
    const at = byPartition.get(end.partition);
    const from = at === undefined || !Number.isFinite(at) || at < 0 ? low : Math.max(at, low);
    const lag = Math.max(0, high - from);
    partitions[String(end.partition)] = lag;
    total += lag;
  }
  return { total, partitions };
}
