import { expect, test } from "bun:test";
import { batchLag, lagSummary, pruneLags } from "../../src/usecases/consumer-lag.ts";

test("a batch's lag: the high watermark minus the offset after its last message; never negative", () => {
  expect(batchLag("10", "3")).toBe(6);
  expect(batchLag("10", "9")).toBe(0);
  expect(batchLag("11", "9")).toBe(1); // a transaction's commit marker after the last message
  expect(batchLag("5", "9")).toBe(0);
});

test("an unknown high watermark (-1001) gives no lag rather than a wrong one", () => {
  expect(batchLag("-1001", "3")).toBeNull();
  expect(batchLag("", "3")).toBeNull();
});

test("the summary sums the partitions' lags, in partition order", () => {
  expect(lagSummary(new Map([[2, 4], [0, 1], [5, 0]]))).toEqual({ total: 5, partitions: { "0": 1, "2": 4, "5": 0 } });
  expect(lagSummary(new Map())).toEqual({ total: 0, partitions: {} });
});

test("a partition no longer assigned loses its lag; the assigned ones keep theirs", () => {
  const lags = new Map([[0, 3], [1, 0], [4, 7]]);
  expect(pruneLags(lags, [0, 2, 4])).toEqual([1]);
  expect([...lags]).toEqual([[0, 3], [4, 7]]);
  expect(pruneLags(lags, [])).toEqual([0, 4]); // none assigned: nothing to report
  expect(lags.size).toBe(0);
});
