import { expect, test } from "bun:test";
import { recentQuantile } from "../../../src/usecases/recent-quantile.ts";

test("the p99 of the samples kept, by nearest rank; null before the first", () => {
  const r = recentQuantile(200);
  expect(r.quantile(0.99)).toBeNull();
  for (let i = 1; i <= 100; i++) r.add(i);
  expect([r.quantile(0.99), r.quantile(0.5), r.quantile(1), r.count]).toEqual([99, 50, 100, 100]);
});

test("only the most recent samples count: old ones fall out of the ring", () => {
  const r = recentQuantile(10);
  for (let i = 0; i < 10; i++) r.add(1000);
  for (let i = 0; i < 10; i++) r.add(i + 1);
  expect([r.quantile(1), r.quantile(0.5), r.count]).toEqual([10, 5, 10]);
});
