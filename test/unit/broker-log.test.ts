// The Kafka clients' failed-connection lines, deduplicated (src/infra/broker-log.ts, issue 14 item
// 8): one warn with its cause when the brokers are lost, one info when a statistics report shows a
// broker connected again, nothing in between but debug lines. The lines are librdkafka's own, as
// a consumer and a producer logged them here across a broker restart.
import { expect, test } from "bun:test";
import { brokerOf, brokerUp, createBrokerLog, isConnectionFailure } from "../../src/infra/broker-log.ts";

const ALL_DOWN = "Error: all broker connections are down";
const TRANSPORT = "Error: broker transport failure";
const FAIL = "[thrd:127.0.0.1:29092/1]: 127.0.0.1:29092/1: Connect to ipv4#127.0.0.1:29092 failed: Connection refused (after 0ms in state CONNECT, 5 identical error(s) suppressed)";
const COORDINATOR = "[thrd:GroupCoordinator]: GroupCoordinator: 127.0.0.1:29092: Connect to ipv4#127.0.0.1:29092 failed: Connection refused (after 0ms in state CONNECT)";
const SESSION = "[thrd:main]: Consumer group session timed out (in join-state steady) after 30034 ms without a successful response from the group coordinator";
const report = (state: string, extra: Record<string, object> = {}) =>
  JSON.stringify({ name: "c#consumer-1", brokers: { "127.0.0.1:29092/bootstrap": { nodeid: -1, state: "UP" }, "127.0.0.1:29092/1": { nodeid: 1, state }, ...extra } });

function harness() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  let clock = 1_000;
  const sink = {
    warn: (fields: object, message: string) => lines.push({ level: "warn", fields: fields as Record<string, unknown>, message }),
    info: (fields: object, message: string) => lines.push({ level: "info", fields: fields as Record<string, unknown>, message }),
    debug: (fields: object, message: string) => lines.push({ level: "debug", fields: fields as Record<string, unknown>, message }),
  };
  const log = createBrokerLog(sink, () => clock);
  return { log, lines, tick: (ms: number) => (clock += ms), shown: () => lines.filter((l) => l.level !== "debug") };
}

test("what counts as a failed connection", () => {
  for (const m of [ALL_DOWN, TRANSPORT, FAIL, COORDINATOR]) expect({ m, failed: isConnectionFailure(m) }).toEqual({ m, failed: true });
  expect(isConnectionFailure("[thrd:x]: anything", "FAIL")).toBe(true); // librdkafka's FAIL facility
  for (const m of [SESSION, "Error: Local: Fatal error", "Received rebalance event", "[thrd:main]: Failed to acquire idempotence PID from broker 127.0.0.1:29092/1: Broker: Coordinator load in progress: retrying"])
    expect({ m, failed: isConnectionFailure(m, "GETPID") }).toEqual({ m, failed: false });
  expect(brokerOf(FAIL)).toBe("127.0.0.1:29092/1");
  expect(brokerOf(COORDINATOR)).toBe("GroupCoordinator: 127.0.0.1:29092");
  expect(brokerOf(ALL_DOWN)).toBeNull();
  expect(brokerUp(JSON.parse(report("UP")))).toBe(true);
  expect(brokerUp(JSON.parse(report("TRY_CONNECT")))).toBe(false); // the bootstrap entry (node id -1) does not count
  expect(brokerUp({})).toBe(false);
});

test("a broker restart: one warn with the cause, the retries held back, one info when it is back", () => {
  const { log, lines, tick, shown } = harness();
  log.stats(report("UP"));
  expect(log.state()).toBe("up");
  // Lost: the first line is the warning, with its cause; the next hundreds are not shown.
  expect(log.line(FAIL, "FAIL")).toBe(true);
  expect(log.state()).toBe("down");
  for (let i = 0; i < 300; i++) {
    tick(100);
    expect(log.line(i % 2 ? ALL_DOWN : TRANSPORT)).toBe(true);
    if (i % 50 === 0) log.stats(report("TRY_CONNECT"));
  }
  expect(shown()).toEqual([{ level: "warn", fields: { cause: FAIL, broker: "127.0.0.1:29092/1" }, message: expect.stringContaining("kafka broker connection lost") }]);
  expect(lines.filter((l) => l.level === "debug").length).toBe(300);
  // Other lines still go through the caller's own logging.
  expect(log.line(SESSION)).toBe(false);
  // The broker is up again, but a failure came since the last report: not yet.
  log.stats(report("UP"));
  expect(log.state()).toBe("down");
  tick(5000);
  log.stats(report("UP"));
  expect(log.state()).toBe("up");
  expect(shown()).toEqual([
    { level: "warn", fields: { cause: FAIL, broker: "127.0.0.1:29092/1" }, message: expect.stringContaining("kafka broker connection lost") },
    { level: "info", fields: { downMs: 35_000, held: 300 }, message: "kafka broker connection back" },
  ]);
  // Reports while up say nothing; a second outage gets its own pair.
  log.stats(report("UP"));
  log.line(ALL_DOWN);
  log.line(ALL_DOWN);
  tick(1000);
  log.stats(JSON.stringify({ brokers: {} }));
  log.stats(report("UP"));
  expect(shown().slice(2)).toEqual([
    { level: "warn", fields: { cause: ALL_DOWN }, message: expect.stringContaining("kafka broker connection lost") },
    { level: "info", fields: { downMs: 1000, held: 1 }, message: "kafka broker connection back" },
  ]);
});

test("a report without a broker connected, or unreadable, does not end the outage", () => {
  const { log, shown } = harness();
  log.line(ALL_DOWN);
  for (const r of [report("DOWN"), report("CONNECT"), "not json", JSON.stringify({ brokers: { "127.0.0.1:29092/bootstrap": { nodeid: -1, state: "UP" } } })]) log.stats(r);
  expect(log.state()).toBe("down");
  expect(shown().map((l) => l.level)).toEqual(["warn"]);
  log.stats(report("UP"));
  expect(shown().map((l) => l.level)).toEqual(["warn", "info"]);
});
