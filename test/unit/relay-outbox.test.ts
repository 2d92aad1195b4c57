// The relay loop over fakes: order, marking only after publish, leadership, retries, fencing.
import { describe, expect, test } from "bun:test";
import pino from "pino";
import { createRelay } from "../../src/usecases/relay-outbox.ts";
import { NotLeaderError, type KafkaMessage, type OutboxPublisher, type OutboxRow, type OutboxStore } from "../../src/usecases/ports.ts";

function fakeStore(rows: OutboxRow[], leader = true) {
  const sent = new Set<string>();
  const store: OutboxStore & { sent: Set<string>; leader: boolean } = {
    sent,
    leader,
    tryLead: async () => store.leader,
    assertLeading: async () => {
      if (!store.leader) throw new NotLeaderError();
    },
    fetchUnsent: async (limit) => {
      if (!store.leader) throw new NotLeaderError();
      return rows.filter((r) => !sent.has(r.id)).slice(0, limit);
    },
    markSent: async (ids) => ids.forEach((id) => sent.add(id)),
    backlog: async () => ({ rows: rows.length - sent.size, oldestAgeSeconds: 0 }),
    purgeSent: async () => 0,
    waitForNotify: async () => {
      await Bun.sleep(1); // as the real one, it yields to timers
      return "timeout" as const;
    },
    wakeUp: () => {},
    close: async () => {},
  };
  return store;
}
function fakePublisher(onPublish: (m: readonly KafkaMessage[]) => Promise<void> | void = () => {}) {
  const log: string[] = [];
  let open = false;
  const publisher: OutboxPublisher & { log: string[] } = {
    log,
    open: async () => {
      if (open) return false;
      open = true;
      log.push("open");
      return true;
    },
    publish: async (m) => {
      log.push(`publish ${m.length}`);
      await onPublish(m);
    },
    close: async () => {
      if (open) log.push("close");
      open = false;
    },
  };
  return publisher;
}
const row = (id: number, productId: string, version: number): OutboxRow => ({ id: String(id), productId, version, payload: `{"v":${version}}`, createdAt: new Date() });
const observe = { published: () => {}, leader: () => {}, backlog: () => {}, error: () => {} };
const logger = pino({ level: "silent" });
const options = { batchSize: 10, pollMs: 5, retentionSeconds: 60 };

describe("relay pass", () => {
  test("publishes unsent rows in id order, keyed by product, and marks them after the publish", async () => {
    const store = fakeStore([row(1, "a", 1), row(2, "b", 1), row(3, "a", 2)]);
    const published: KafkaMessage[][] = [];
    const publisher = fakePublisher((m) => {
      expect(store.sent.size).toBe(0); // nothing is marked before the broker acknowledged
      published.push([...m]);
    });
    const relay = createRelay({ store, publisher, logger, observe, options });
    expect(await relay.pass()).toBe(3);
    expect(published.flat().map((m) => [m.key, m.value])).toEqual([["a", '{"v":1}'], ["b", '{"v":1}'], ["a", '{"v":2}']]);
    expect([...store.sent]).toEqual(["1", "2", "3"]);
    expect(await relay.pass()).toBe(0);
    expect(publisher.log).toEqual(["open", "publish 3"]);
  });

  test("when the publish fails, nothing is marked, the producer is closed, and the next pass opens a new one and sends the same rows", async () => {
    const store = fakeStore([row(1, "a", 1)]);
    let fail = true;
    const publisher = fakePublisher(() => {
      if (fail) throw new Error("broker down");
    });
    const relay = createRelay({ store, publisher, logger, observe, options });
    await expect(relay.pass()).rejects.toThrow("broker down");
    expect(store.sent.size).toBe(0);
    fail = false;
    expect(await relay.pass()).toBe(1);
    expect(publisher.log).toEqual(["open", "publish 1", "close", "open", "publish 1"]);
  });

  test("a relay that lost the lock while it opened its producer (which fenced its successor's) publishes nothing", async () => {
    const store = fakeStore([row(1, "a", 1)]);
    const publisher = fakePublisher();
    const open = publisher.open;
    publisher.open = async () => {
      store.leader = false; // the session died between the fetch and the producer's initTransactions
      return open();
    };
    const relay = createRelay({ store, publisher, logger, observe, options });
    await expect(relay.pass()).rejects.toBeInstanceOf(NotLeaderError);
    expect(publisher.log).toEqual(["open"]);
    expect(store.sent.size).toBe(0);
  });

  test("a standby publishes nothing and opens no producer until it holds the lock; a leader that loses the lock closes its producer", async () => {
    const store = fakeStore([row(1, "a", 1)], false);
    const publisher = fakePublisher();
    const relay = createRelay({ store, publisher, logger, observe, options });
    const loop = relay.start();
    await Bun.sleep(30);
    expect(publisher.log).toEqual([]);
    store.leader = true;
    while (store.sent.size === 0) await Bun.sleep(5);
    store.leader = false;
    while (!publisher.log.includes("close")) await Bun.sleep(5);
    await relay.stop();
    await loop;
    expect(publisher.log).toEqual(["open", "publish 1", "close"]);
  });
});
