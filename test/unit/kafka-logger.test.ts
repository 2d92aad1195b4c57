// The Kafka client's logger (src/infra/kafka-logger.ts): which of librdkafka's lines replace the client.
import { expect, test } from "bun:test";
import pino from "pino";
import { createBrokerLog } from "../../src/infra/broker-log.ts";
import { kafkaLogger } from "../../src/infra/kafka-logger.ts";

function setup() {
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: "debug" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const replaced: string[] = [];
  const log = kafkaLogger(logger, createBrokerLog(logger), (m) => replaced.push(m));
  return { log, lines, replaced };
}

test("a timed-out group session (SESSTMOUT) replaces the client, and is logged", () => {
  const { log, lines, replaced } = setup();
  const m = "[thrd:main]: Consumer group session timed out (in join-state steady) after 30029 ms without a successful response from the group coordinator";
  log.warn(m, { fac: "SESSTMOUT" });
  expect(replaced).toEqual([m]);
  expect(lines.map((l) => [l.level, l.msg])).toEqual([[40, m]]);
});

test("a fatal error replaces the client; other warnings and errors do not", () => {
  const { log, replaced } = setup();
  log.warn("[thrd:GroupCoordinator]: GroupCoordinator: Timed out 0 in-flight, 0 retry-queued, 1 out-queue", { fac: "REQTMOUT" });
  log.error("some other error", { fac: "ERROR" });
  expect(replaced).toEqual([]);
  log.error("Local: Fatal error: the member was fenced");
  expect(replaced).toEqual(["Local: Fatal error: the member was fenced"]);
});
