// Runs the bus contract (test/contracts/bus.ts) against Kafka with the relay's real publisher, on
// Node 24: `node test/support/bus-contract-kafka.ts`. Creates a topic of its own (one partition,
// so the order is the topic's), reads it read_committed with scripts/kafka-tool.ts, deletes it.
// Prints "bus contract ok" and exits 0, or the broken rule and exits 1.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pino from "pino";
import { createKafka, createOutboxPublisher } from "../../src/infra/kafka.ts";
import { busContract } from "../contracts/bus.ts";

const run = promisify(execFile);
const brokers = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",");
const topic = `bus-contract-${process.pid}-${Date.now()}`;
const logger = pino({ level: "silent" });
const tool = (...args: string[]) => run(process.execPath, ["scripts/kafka-tool.ts", ...args], { env: process.env });

await tool("create", topic, "1");
try {
  await busContract(
    () => createOutboxPublisher(() => createKafka(brokers, "bus-contract", logger), topic, `bus-contract-${topic}`, logger),
    async () => {
      const { stdout } = await tool("dump", topic, "--json");
      return stdout.split("\n").filter(Boolean).map((line) => (JSON.parse(line) as { value: string }).value);
    },
  );
  console.log("bus contract ok");
} catch (err) {
  console.error(`bus contract broken: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await tool("delete", topic).catch(() => {});
}
process.exit(process.exitCode ?? 0);
