// Small Kafka admin tool on Node 24 (the client cannot run on Bun), for operators and tests:
//   node scripts/kafka-tool.ts create TOPIC [PARTITIONS]   create a topic (no-op if it exists)
//   node scripts/kafka-tool.ts delete TOPIC                delete a topic
//   node scripts/kafka-tool.ts dump TOPIC                  print every message as a JSON line, then exit
//   node scripts/kafka-tool.ts produce TOPIC               send JSON lines from stdin: {key?, value, headers?}
//   node scripts/kafka-tool.ts redrive DLQ [GROUP]         send the dead letters (of one consumer group, or all)
//                                                          back to the topic they came from, as they were
//                                                          (their x-dlq-* headers dropped), e.g. after an upgrade
// Env: KAFKA_BROKERS (default 127.0.0.1:9092); KAFKA_ISOLATION=read_uncommitted makes dump show what
// open and aborted transactions wrote too.
import { createInterface } from "node:readline";
import kafkaJs from "@confluentinc/kafka-javascript";

const { Kafka, logLevel } = kafkaJs.KafkaJS;
const brokers = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",");
const kafka = new Kafka({ kafkaJS: { brokers, clientId: "catalog-kafka-tool", logLevel: logLevel.ERROR } });
const [command, topic, arg] = process.argv.slice(2);

async function create() {
  const admin = kafka.admin();
  await admin.connect();
  const existing = await admin.listTopics();
  if (!existing.includes(topic!)) {
    // KAFKA_REPLICATION_FACTOR (1) and KAFKA_MIN_INSYNC_REPLICAS (the broker's default) for a cluster.
    const minIsr = process.env.KAFKA_MIN_INSYNC_REPLICAS;
    await admin.createTopics({
      topics: [
        {
          topic: topic!,
          numPartitions: Number(arg ?? 6),
          replicationFactor: Number(process.env.KAFKA_REPLICATION_FACTOR ?? 1),
          configEntries: minIsr ? [{ name: "min.insync.replicas", value: minIsr }] : [],
        },
      ],
    });
  }
  await admin.disconnect();
}

async function remove() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic!] }).catch(() => {});
  await admin.disconnect();
}

/**
 * Reads every committed message from the start to the end of each partition, then exits. The end
 * is librdkafka's partition EOF (read_committed: aborted transactions and their markers are
 * skipped, so the high watermark cannot serve as the end once the relay publishes in transactions).
 */
type Dumped = { partition: number; offset: string; key: string | null; value: string | null; headers: Record<string, string> };
// KAFKA_ISOLATION=read_uncommitted also shows what open or aborted transactions wrote (a diagnosis:
// a message there but not in the committed read sits behind an open transaction, or was aborted).
const isolation = process.env.KAFKA_ISOLATION === "read_uncommitted" ? "read_uncommitted" : "read_committed";
async function collect(name: string): Promise<Dumped[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(name);
  await admin.disconnect();
  const partitions = ends.filter((p) => Number(p.high) > Number(p.low)).map((p) => p.partition);
  if (partitions.length === 0) return [];
  const consumer = new kafkaJs.KafkaConsumer(
    { "group.id": `dump-${process.pid}-${Date.now()}`, "metadata.broker.list": brokers.join(","), "enable.partition.eof": true, "enable.auto.commit": false, "isolation.level": isolation },
    { "auto.offset.reset": "earliest" },
  );
  const out: Dumped[] = [];
  const remaining = new Set(partitions);
  await new Promise<void>((resolve, reject) => {
    // A node of a cluster that is down is reported as an error but is not one for this read (the
    // others serve its partitions); only a fatal error ends it, and a read that never ends times out.
    consumer.on("event.error", (err) => {
      if (err.isFatal) reject(err);
    });
    const deadline = setTimeout(() => reject(new Error(`no end of ${name} within 60 s`)), 60_000);
    deadline.unref();
    consumer.on("ready", () => {
      consumer.assign(partitions.map((partition) => ({ topic: name, partition, offset: 0 })));
      consumer.consume();
    });
    consumer.on("data", (m) => {
      const headers: Record<string, string> = {};
      for (const h of m.headers ?? []) for (const [k, v] of Object.entries(h)) headers[k] = String(v);
      out.push({ partition: m.partition, offset: String(m.offset), key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, headers });
    });
    consumer.on("partition.eof", ({ partition }) => {
      remaining.delete(partition);
      if (remaining.size === 0) resolve();
    });
    consumer.connect();
  });
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  return out;
}

async function dump() {
  const lines = (await collect(topic!)).map((m) => JSON.stringify(m));
  // One write, finished before the process exits (process.exit would cut a pipe's pending output).
  if (lines.length) await new Promise<void>((resolve) => process.stdout.write(lines.join("\n") + "\n", () => resolve()));
}

/**
 * Each dead letter goes back to the topic named in its x-dlq-source header, with its key, value and
 * original headers, plus x-redriven-from (DLQ/partition/offset). Consumers handle what they can
 * read now, and dead-letter the rest again; versions make the repeats harmless.
 */
async function redrive() {
  const group = arg;
  const letters = (await collect(topic!)).filter((m) => !group || m.headers["x-dlq-group"] === group);
  const byTopic = new Map<string, { key: string | null; value: string; headers: Record<string, string> }[]>();
  for (const m of letters) {
    const source = m.headers["x-dlq-source"]?.split("/")[0];
    if (!source) continue;
    const headers = Object.fromEntries(Object.entries(m.headers).filter(([k]) => !k.startsWith("x-dlq-")));
    headers["x-redriven-from"] = `${topic}/${m.partition}/${m.offset}`;
    byTopic.set(source, [...(byTopic.get(source) ?? []), { key: m.key, value: m.value ?? "", headers }]);
  }
  if (byTopic.size === 0) {
    console.error(`kafka-tool redrive ${topic}: no dead letters${group ? ` of group ${group}` : ""}`);
    return;
  }
  const producer = kafka.producer({ kafkaJS: { idempotent: true, allowAutoTopicCreation: false } });
  await producer.connect();
  for (const [to, messages] of byTopic) {
    await producer.send({ topic: to, messages });
    console.error(`kafka-tool redrive ${topic}: ${messages.length} message(s) sent back to ${to}`);
  }
  await producer.disconnect();
}

async function produce() {
  const producer = kafka.producer({ kafkaJS: { idempotent: true, allowAutoTopicCreation: false } });
  await producer.connect();
  const messages = [];
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) messages.push(JSON.parse(line));
  }
  await producer.send({ topic: topic!, messages });
  await producer.disconnect();
}

const commands: Record<string, () => Promise<void>> = { create, delete: remove, dump, produce, redrive };
if (!topic || !command || !commands[command]) {
  console.error("usage: node scripts/kafka-tool.ts create|delete|dump|produce TOPIC [PARTITIONS] | redrive DLQ [GROUP]");
  process.exit(2);
}
try {
  await commands[command]!();
  process.exit(0);
} catch (err) {
  console.error(`kafka-tool ${command} ${topic}: ${(err as Error).message}`);
  process.exit(1);
}
