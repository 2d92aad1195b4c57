import { expect, test } from "bun:test";
import { consumerLag } from "../../src/usecases/consumer-lag.ts";

test("lag per partition: the end minus the committed offset, from the low watermark where nothing was committed", () => {
  const ends = [
    { partition: 0, high: "10", low: "0" },
    { partition: 1, high: "7", low: "3" },
    { partition: 2, high: "5", low: "0" },
    { partition: 3, high: "4", low: "4" },
  ];
  const committed = [
    { partition: 0, offset: "6" },
    { partition: 1, offset: "-1" }, // never committed
    { partition: 2, offset: "5" }, // caught up
    // partition 3: absent from the answer
  ];
  expect(consumerLag(ends, committed)).toEqual({ total: 8, partitions: { "0": 4, "1": 4, "2": 0, "3": 0 } });
});

test("a committed offset below the low watermark (records deleted) counts from the low watermark; never negative", () => {
  expect(consumerLag([{ partition: 0, high: "20", low: "15" }], [{ partition: 0, offset: "3" }])).toEqual({ total: 5, partitions: { "0": 5 } });
  expect(consumerLag([{ partition: 0, high: "20", low: "0" }], [{ partition: 0, offset: "25" }])).toEqual({ total: 0, partitions: { "0": 0 } });
});
