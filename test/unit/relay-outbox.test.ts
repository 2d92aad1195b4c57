// The relay loop over fakes: order, marking only after publish, leadership, retries.
import { describe, expect, test } from "bun:test";
import pino from "pino";
import type { OutboxRow, OutboxStore } from "../../src/infra/outbox-store.ts";
import type { KafkaMessage } from "../../src/infra/kafka.ts";
import { createRelay } from "../../src/usecases/relay-outbox.ts";

function fakeStore(rows: OutboxRow[], leader = true) {
  const sent = new Set<string>();
  const store: OutboxStore & { sent: Set<string> } = {
    sent,
    tryLead: async () => leader,
    fetchUnsent: async (limit) => rows.filter((r) => !sent.has(r.id)).slice(0, limit),
    markSent: async (ids) => ids.forEach((id) => sent.add(id)),
    backlog: async () => ({ rows: rows.length - sent.size, oldestAgeSeconds: 0 }),
    purgeSent: async () => 0,
    waitForNotify: async () => "timeout",
    wakeUp: () => {},
    close: async () => {},
  };
  return store;
}
const row = (id: number, productId: string, version: number): OutboxRow => ({ id: String(id), productId, version, payload: `{"v":${version}}`, createdAt: new Date() });
const observe = { published: () => {}, leader: () => {}, backlog: () => {}, error: () => {} };
const logger = pino({ level: "silent" });

describe("relay pass", () => {
  test("publishes unsent rows in id order, keyed by product, and marks them after the publish", async () => {
    const store = fakeStore([row(1, "a", 1), row(2, "b", 1), row(3, "a", 2)]);
    const published: KafkaMessage[][] = [];
    const relay = createRelay({
      store,
      publish: async (m) => {
        expect(store.sent.size).toBe(0); // nothing is marked before the broker acknowledged
        published.push([...m]);
      },
      logger,
      observe,
      options: { batchSize: 10, pollMs: 10, retentionSeconds: 60 },
    });
    expect(await relay.pass()).toBe(3);
    expect(published.flat().map((m) => [m.key, m.value])).toEqual([["a", '{"v":1}'], ["b", '{"v":1}'], ["a", '{"v":2}']]);
    expect([...store.sent]).toEqual(["1", "2", "3"]);
    expect(await relay.pass()).toBe(0);
  });

  test("when the publish fails, nothing is marked and the next pass sends the same rows", async () => {
    const store = fakeStore([row(1, "a", 1)]);
    let fail = true;
    const relay = createRelay({
      store,
      publish: async () => {
        if (fail) throw new Error("broker down");
      },
      logger,
      observe,
      options: { batchSize: 10, pollMs: 10, retentionSeconds: 60 },
    });
    await expect(relay.pass()).rejects.toThrow("broker down");
    expect(store.sent.size).toBe(0);
    fail = false;
    expect(await relay.pass()).toBe(1);
  });

  test("a standby publishes nothing until it holds the lock", async () => {
    const store = fakeStore([row(1, "a", 1)], false);
    let published = 0;
    const relay = createRelay({ store, publish: async (m) => void (published += m.length), logger, observe, options: { batchSize: 10, pollMs: 5, retentionSeconds: 60 } });
    const loop = relay.start();
    await Bun.sleep(30);
    await relay.stop();
    await loop;
    expect(published).toBe(0);
  });
});
