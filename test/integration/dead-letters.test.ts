// The console's dead-letter view in a real Redis (src/infra/dead-letters.ts): counts, the latest
// letters, and since when it counts, which starts again when Redis lost the view.
import { afterAll, expect, test } from "bun:test";
import { deadLetterKeys } from "../../src/infra/cache-format.ts";
import { markDeadLetterView, readDeadLetters, recordDeadLetter } from "../../src/infra/dead-letters.ts";
import { deleteKeys, testRedis, uniquePrefix } from "../support/services.ts";

const redis = testRedis();
const prefix = uniquePrefix("dlview");
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

const letter = (at: string, reason: string, value: string) => ({
  at,
  group: "g1",
  namespace: "catalog",
  reason,
  detail: "",
  source: "t/0/1",
  topic: "t.dlq",
  key: null,
  value,
});

test("the view counts by reason, keeps the latest first, and says since when; after Redis lost it, it says so by starting again", async () => {
  expect(await readDeadLetters(redis, prefix, 20)).toEqual({ counts: {}, total: 0, latest: [], since: null });
  await recordDeadLetter(redis, prefix, letter("2026-11-29T10:00:00.000Z", "malformed-json", "{not json"));
  await recordDeadLetter(redis, prefix, letter("2026-11-29T10:00:05.000Z", "malformed-json", "x".repeat(600)));
  await markDeadLetterView(redis, prefix, "2026-11-29T10:00:09.000Z"); // a consumer's tick: the view says already
  const view = await readDeadLetters(redis, prefix, 20);
  expect([view.counts, view.total, view.since]).toEqual([{ "malformed-json": 2 }, 2, "2026-11-29T10:00:00.000Z"]);
  expect(view.latest.map((l) => [l.at, l.preview.length, l.bytes])).toEqual([
    ["2026-11-29T10:00:05.000Z", 500, 600],
    ["2026-11-29T10:00:00.000Z", 9, 9],
  ]);

  // Redis lost its data (a flush); the next consumer tick marks the new start.
  await redis.del(...Object.values(deadLetterKeys(prefix)));
  expect(await readDeadLetters(redis, prefix, 20)).toEqual({ counts: {}, total: 0, latest: [], since: null });
  await markDeadLetterView(redis, prefix, "2026-11-29T11:00:00.000Z");
  await recordDeadLetter(redis, prefix, letter("2026-11-29T11:00:03.000Z", "future-schema", "{}"));
  expect(await readDeadLetters(redis, prefix, 20)).toMatchObject({ counts: { "future-schema": 1 }, total: 1, since: "2026-11-29T11:00:00.000Z" });
});
