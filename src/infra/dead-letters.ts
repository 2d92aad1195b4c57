// What the consumers dead-letter, recorded in Redis beside the dead-letter topic (the topic stays
// the record of truth and what `kafka-tool redrive` sends back): a count per reason and the latest
// records with a preview of their payload, for the console. Erasable TypeScript: the consumers
// (Node 24) record, the api (Bun) reads.
//
// Redis may lose the view (a restart without persistence, a flush): the view then starts again,
// and says since when it counts (`since`, set once by the first consumer that finds it missing,
// at its next record or its next 5 s tick), so an empty view after a loss does not read as "no
// dead letters ever".
import { deadLetterKeys } from "./cache-format.ts";
import type { RedisClient } from "./redis-cache.ts";

export const DEAD_LETTERS_KEPT = 100;
const PREVIEW_CHARS = 500;

export type DeadLetterRecord = {
  at: string;
  group: string;
  namespace: string;
  reason: string;
  detail: string;
  /** Where it was read: "<topic>/<partition>/<offset>". */
  source: string;
  topic: string;
  key: string | null;
  /** The value's first 500 characters. */
  preview: string;
  bytes: number;
};

export async function recordDeadLetter(redis: RedisClient, prefix: string, record: Omit<DeadLetterRecord, "preview" | "bytes"> & { value: string }): Promise<void> {
  const { value, ...rest } = record;
  const keys = deadLetterKeys(prefix);
  const stored: DeadLetterRecord = { ...rest, preview: value.slice(0, PREVIEW_CHARS), bytes: Buffer.byteLength(value) };
  await redis
    .multi()
    .lpush(keys.latest, JSON.stringify(stored))
    .ltrim(keys.latest, 0, DEAD_LETTERS_KEPT - 1)
    .hincrby(keys.counts, record.reason, 1)
    .set(keys.since, record.at, "NX")
    .exec();
}

/** Marks when this Redis began to hold the view, unless it already says. */
export async function markDeadLetterView(redis: RedisClient, prefix: string, at = new Date().toISOString()): Promise<void> {
  await redis.set(deadLetterKeys(prefix).since, at, "NX");
}

export type DeadLetterView = { counts: Record<string, number>; total: number; latest: DeadLetterRecord[]; since: string | null };

export async function readDeadLetters(redis: RedisClient, prefix: string, limit: number): Promise<DeadLetterView> {
  const keys = deadLetterKeys(prefix);
  const [counts, raws, since] = await Promise.all([redis.hgetall(keys.counts), redis.lrange(keys.latest, 0, Math.max(0, limit - 1)), redis.get(keys.since)]);
  const byReason = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
  const latest = raws.flatMap((raw) => {
    try {
      return [JSON.parse(raw) as DeadLetterRecord];
    } catch {
      return [];
    }
  });
  return { counts: byReason, total: Object.values(byReason).reduce((a, b) => a + b, 0), latest, since };
}
