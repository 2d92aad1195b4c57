// The replay stream's timestamp decoding: PostgreSQL's ISO text in UTC to what Date.toISOString()
// prints (and what the Prisma path makes of the same value), without a Date on the common path.
import { expect, test } from "bun:test";
import { isoTimestamp } from "../../src/infra/event-stream.ts";

test.each([
  ["2026-01-01 00:01:00+00", "2026-01-01T00:01:00.000Z"],
  ["2026-01-01 00:01:00.5+00", "2026-01-01T00:01:00.500Z"],
  ["2026-01-01 00:01:00.05+00", "2026-01-01T00:01:00.050Z"],
  ["2026-12-31 23:59:59.999+00", "2026-12-31T23:59:59.999Z"],
  ["0999-12-31 23:59:59.999+00", "0999-12-31T23:59:59.999Z"],
  // Not the common shape: through pg's own parser and a Date.
  ["2026-06-30 12:00:00.1+02", "2026-06-30T10:00:00.100Z"],
  ["0044-03-15 12:00:00+00 BC", "-000043-03-15T12:00:00.000Z"],
  ["12026-01-01 00:00:00+00", "+012026-01-01T00:00:00.000Z"],
])("%s is %s", (text, iso) => {
  expect(isoTimestamp(text)).toBe(iso);
});
