// The write path's helpers (src/infra/append-sql.ts): the coalesced NOTIFY and the error reading.
import { expect, test } from "bun:test";
import { createNotifier, pgUnavailable, sqlState } from "../../src/infra/append-sql.ts";

test("pokes while a NOTIFY is on its way are answered by one more NOTIFY after it, not one each", async () => {
  const sends: (() => void)[] = [];
  const notifier = createNotifier(() => new Promise<void>((resolve) => sends.push(resolve)));
  notifier.poke();
  expect(sends.length).toBe(1);
  for (let i = 0; i < 5; i++) notifier.poke(); // five commits while the first NOTIFY is sent
  expect(sends.length).toBe(1);
  sends[0]!();
  await Bun.sleep(0);
  expect(sends.length).toBe(2); // one more, sent after those commits
  sends[1]!();
  await Bun.sleep(0);
  expect([sends.length, notifier.sent()]).toEqual([2, 2]);
  notifier.poke(); // idle again: the next commit notifies at once
  expect(sends.length).toBe(3);
  sends[2]!();
});

test("a failed NOTIFY is dropped (the relay polls), and the next poke sends again", async () => {
  let calls = 0;
  const notifier = createNotifier(async () => {
    calls++;
    if (calls === 1) throw new Error("Connection terminated unexpectedly");
  });
  notifier.poke();
  await Bun.sleep(0);
  notifier.poke();
  await Bun.sleep(0);
  expect([calls, notifier.sent()]).toEqual([2, 1]);
});

test("SQLSTATEs from pg and from Prisma's driver adapter; what counts as PostgreSQL unavailable", () => {
  expect(sqlState(Object.assign(new Error("duplicate key"), { code: "23505" }))).toBe("23505");
  expect(sqlState({ code: "P2010", meta: { driverAdapterError: { cause: { originalCode: "23505" } } } })).toBe("23505");
  expect(sqlState(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toBeUndefined();
  for (const code of ["ECONNREFUSED", "ECONNRESET", "57P01", "57P03", "08006", "3D000", "28P01", "53300"])
    expect(pgUnavailable(Object.assign(new Error("x"), { code }))).toBe(true);
  expect(pgUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
  for (const code of ["23505", "42883", "22P02"]) expect(pgUnavailable(Object.assign(new Error("x"), { code }))).toBe(false);
});
