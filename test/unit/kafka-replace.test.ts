// Replacing a Kafka client whose handle went fatal (src/infra/kafka-replace.ts), the one way the
// relay and the consumers do it, over fake clients. The pauses are recorded, not slept.
import { describe, expect, test } from "bun:test";
import pino from "pino";
import { replaceOnFatal, type ReplaceOptions } from "../../src/infra/kafka-replace.ts";
import { waitFor } from "../support/services.ts";

const logger = pino({ level: "silent" });

/** Fake clients: each reports its fatal error through the hook it was made with. */
function fakes(options: { failOpens?: number } = {}) {
  const clients: { n: number; fatal: (message: string) => void }[] = [];
  const log: string[] = [];
  const pauses: number[] = [];
  let failOpens = options.failOpens ?? 0;
  const newClient = (onFatal: (message: string) => void) => {
    const client = { n: clients.length + 1, fatal: onFatal };
    clients.push(client);
    return client;
  };
  const build = async (client: { n: number }) => {
    if (client.n > 1 && failOpens-- > 0) {
      log.push(`open ${client.n} failed`);
      throw new Error("broker down");
    }
    log.push(`open ${client.n}`);
    return { n: client.n, disconnect: async () => void log.push(`close ${client.n}`) };
  };
  const opts = (reopen: ReplaceOptions["reopen"]): ReplaceOptions => ({ what: "kafka test", logger, reopen, sleep: async (ms) => void pauses.push(ms) });
  return { clients, log, pauses, newClient, build, opts };
}

describe("a consumer's client (reopen at once)", () => {
  test("when its handle goes fatal, then it is closed and a new one opened, retried every second while the broker refuses", async () => {
    const f = fakes({ failOpens: 2 });
    const kafka = replaceOnFatal(f.newClient, f.build, f.opts("at-once"));
    expect((await kafka.open()).n).toBe(1);
    f.clients[0]!.fatal("Local: Fatal error");
    expect(kafka.current()).toBeNull(); // no batch goes to the dead client meanwhile
    await waitFor(() => kafka.current(), 5000, "the replacement");
    expect(kafka.current()!.n).toBe(4);
    expect(f.log).toEqual(["open 1", "close 1", "open 2 failed", "open 3 failed", "open 4"]);
    expect(f.pauses).toEqual([1000, 1000]);
  });

  test("when the replaced client reports again, or two errors come at once, then only one replacement happens", async () => {
    const f = fakes();
    const kafka = replaceOnFatal(f.newClient, f.build, f.opts("at-once"));
    await kafka.open();
    f.clients[0]!.fatal("Local: Fatal error");
    f.clients[0]!.fatal("Local: Fatal error");
    await waitFor(() => kafka.current(), 5000, "the replacement");
    f.clients[0]!.fatal("Local: Fatal error"); // the old client's last words
    expect(f.log).toEqual(["open 1", "close 1", "open 2"]);
    expect(kafka.current()!.n).toBe(2);
  });

  test("when a watchdog calls replace, then the client is replaced as after a fatal error", async () => {
    const f = fakes();
    const kafka = replaceOnFatal(f.newClient, f.build, f.opts("at-once"));
    await kafka.open();
    kafka.replace("no partitions assigned for 60 s");
    await waitFor(() => kafka.current(), 5000, "the replacement");
    expect(f.log).toEqual(["open 1", "close 1", "open 2"]);
  });

  test("when the process stops while a replacement waits to retry, then nothing more is opened", async () => {
    const f = fakes({ failOpens: 1 });
    let stopped: Promise<void> | undefined;
    const kafka = replaceOnFatal(f.newClient, f.build, {
      ...f.opts("at-once"),
      sleep: async () => void (stopped ??= kafka.close()), // SIGTERM during the pause after a failed attempt
    });
    await kafka.open();
    f.clients[0]!.fatal("Local: Fatal error");
    await waitFor(() => stopped !== undefined, 5000, "the stop");
    await stopped;
    expect(f.log).toEqual(["open 1", "close 1", "open 2 failed"]);
    expect(kafka.current()).toBeNull();
  });

  test("when the process stops right after a fatal error, then close waits for the broken client's disconnect and opens nothing", async () => {
    const f = fakes();
    const kafka = replaceOnFatal(f.newClient, f.build, f.opts("at-once"));
    await kafka.open();
    f.clients[0]!.fatal("Local: Fatal error");
    await kafka.close();
    expect(f.log).toEqual(["open 1", "close 1"]);
    expect(kafka.current()).toBeNull();
  });

  test("when the handle goes fatal while it is being opened, then it is replaced once open", async () => {
    const f = fakes();
    const kafka = replaceOnFatal(
      f.newClient,
      async (client) => {
        if (client.n === 1) client.fatal("Local: Fatal error");
        return f.build(client);
      },
      f.opts("at-once"),
    );
    await kafka.open();
    await waitFor(() => kafka.current()?.n === 2, 5000, "the replacement");
    expect(f.log).toEqual(["open 1", "close 1", "open 2"]);
  });
});

describe("the relay's producer (reopen on open)", () => {
  test("when its handle goes fatal, then it is closed and nothing opens until the relay asks again", async () => {
    const f = fakes();
    const producer = replaceOnFatal(f.newClient, f.build, f.opts("on-open"));
    await producer.open();
    f.clients[0]!.fatal("Local: Fatal error");
    await waitFor(() => f.log.includes("close 1"), 5000, "the close");
    expect(producer.current()).toBeNull();
    expect(f.clients.length).toBe(1); // opening would fence the other relays: only a leader may
    expect((await producer.open()).n).toBe(2);
    expect(f.log).toEqual(["open 1", "close 1", "open 2"]);
  });

  test("open returns the open one; close closes it until the next open", async () => {
    const f = fakes();
    const producer = replaceOnFatal(f.newClient, f.build, f.opts("on-open"));
    const first = await producer.open();
    expect(await producer.open()).toBe(first);
    await producer.close();
    expect(producer.current()).toBeNull();
    await producer.open();
    expect(f.log).toEqual(["open 1", "close 1", "open 2"]);
  });
});
