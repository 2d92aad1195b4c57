// Read-only looks at what Redis holds for the operator's views: one product's entry in each
// namespace (with its fence and TTL), and the dead letters the consumers recorded. Nothing here
// writes, arms a fence or fills: inspecting a namespace nobody uses leaves no trace.
import { Cluster } from "ioredis";
import type { RawEntryView } from "../usecases/inspect-product.ts";
import { decodeEntry, decodeFence, keyLayout } from "./cache-format.ts";
import type { RedisClient } from "./redis-cache.ts";

export async function readEntries(redis: RedisClient, prefix: string, namespaces: readonly string[], id: string): Promise<RawEntryView[]> {
  const cluster = redis instanceof Cluster;
  return Promise.all(
    namespaces.map(async (namespace): Promise<RawEntryView> => {
      const layout = keyLayout(prefix, namespace, cluster);
      const key = layout.entry(id);
      const fence = layout.fences[layout.bucketOf(id)]!;
      // The entry, its bucket's fence and the TTL share one slot: one round trip, one moment.
      const [[, raw], [, fenceRaw], [, pttl]] = (await redis.multi().get(key).get(fence).pttl(key).exec()) as [unknown, unknown][] as [
        [unknown, string | null],
        [unknown, string | null],
        [unknown, number],
      ];
      return {
        namespace,
        key,
        raw,
        entry: decodeEntry(raw),
        fenceEpoch: decodeFence(fenceRaw)?.epoch ?? null,
        ttlMs: pttl >= 0 ? pttl : null,
      };
    }),
  );
}
