// Kafka tool for operators and tests. It runs on the project's Node 24: the Kafka client cannot
// run on Bun, and the system's Node 20 cannot run a .ts file. Any of these, from the checkout:
//   scripts/kafka-tool.sh COMMAND ...     a wrapper that runs .tools' Node 24; works in a fresh shell
//   bun run kafka-tool COMMAND ...        the same, once bun is on the PATH (source scripts/env.sh)
//   node scripts/kafka-tool.ts COMMAND ... after `source scripts/env.sh`, which puts Node 24 first
// Commands:
//   create TOPIC [PARTITIONS]    create a topic (6 partitions by default; nothing if it exists)
//   delete TOPIC                 delete a topic
//   dump TOPIC [--limit N] [--json]
//                                print the topic's committed messages from the start of each
//                                partition, sorted by partition and offset, then "N messages".
//                                Each: partition, offset, timestamp (ISO 8601, UTC), key, headers,
//                                and the value (JSON pretty-printed; other values as text).
//                                --limit N: stop after the first N messages read.
//                                --json: one JSON object per line instead, {partition, offset,
//                                timestamp, key, value, headers} (value the raw text), for
//                                scripts; the count goes to stderr.
//   produce TOPIC                send the messages read from stdin, one JSON object per line
//                                (blank lines skipped), all in one batch:
//                                  {"key": "p-1", "value": "text", "headers": {"name": "text"}}
//                                key and headers may be left out; a value that is not a string
//                                is sent as its JSON text, so these two lines send the same bytes:
//                                  {"key": "p-1", "value": {"a": 1}}
//                                  {"key": "p-1", "value": "{\"a\":1}"}
//                                e.g.  echo '{"key": "p-1", "value": {"a": 1}}' | scripts/kafka-tool.sh produce TOPIC
//   redrive DLQ [GROUP]          send the dead letters (of one consumer group, or all) back to the
//                                topic they came from, as they were (their x-dlq-* headers
//                                dropped), e.g. after an upgrade
// Env: KAFKA_BROKERS (default 127.0.0.1:9092); KAFKA_ISOLATION=read_uncommitted makes dump show
// what open and aborted transactions wrote too; KAFKA_REPLICATION_FACTOR (1) and
// KAFKA_MIN_INSYNC_REPLICAS (the broker's default) for create on a cluster.
// Exit code 0 on success, 1 on failure, 2 on bad arguments. --help prints this.
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import kafkaJs from "@confluentinc/kafka-javascript";

const { Kafka, logLevel } = kafkaJs.KafkaJS;
const brokers = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",");
const kafka = new Kafka({ kafkaJS: { brokers, clientId: "catalog-kafka-tool", logLevel: logLevel.ERROR } });
const USAGE = "usage: scripts/kafka-tool.sh create TOPIC [PARTITIONS] | delete TOPIC | dump TOPIC [--limit N] [--json] | produce TOPIC <lines | redrive DLQ [GROUP]  (--help for more)";
function usageError(message: string): never {
  console.error(`kafka-tool: ${message}\n${USAGE}`);
  process.exit(2);
}
function parse() {
  try {
    return parseArgs({ allowPositionals: true, options: { limit: { type: "string" }, json: { type: "boolean", default: false } } });
  } catch (err) {
    usageError((err as Error).message);
  }
}
const parsed = parse();
const [command, topic, arg] = parsed.positionals;
const limit = parsed.values.limit === undefined ? undefined : Number(parsed.values.limit);
if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) usageError(`--limit must be a whole number above 0 (got ${parsed.values.limit})`);

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
type Dumped = { partition: number; offset: string; timestamp: string | null; key: string | null; value: string | null; headers: Record<string, string> };
// KAFKA_ISOLATION=read_uncommitted also shows what open or aborted transactions wrote (a diagnosis:
// a message there but not in the committed read sits behind an open transaction, or was aborted).
const isolation = process.env.KAFKA_ISOLATION === "read_uncommitted" ? "read_uncommitted" : "read_committed";
async function collect(name: string, max = Infinity): Promise<Dumped[]> {
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
    // Batches asked for one at a time (not the flowing mode), so that a read stopped by --limit
    // has no fetch running when it disconnects: a disconnect in the middle of the flowing mode's
    // fetch crashed the process (segmentation fault, librdkafka 2.15.1).
    let done = false;
    const finish = () => {
      done = true;
      resolve();
    };
    const take = (m: kafkaJs.Message) => {
      if (done) return;
      const headers: Record<string, string> = {};
      for (const h of m.headers ?? []) for (const [k, v] of Object.entries(h)) headers[k] = String(v);
      const timestamp = typeof m.timestamp === "number" && m.timestamp >= 0 ? new Date(m.timestamp).toISOString() : null;
      out.push({ partition: m.partition, offset: String(m.offset), timestamp, key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, headers });
      if (out.length >= max) finish();
    };
    const next = () => {
      if (done) return;
      consumer.consume(500, (err, messages) => {
        if (err && err.code !== kafkaJs.CODES.ERRORS.ERR__TIMED_OUT) return reject(err);
        for (const m of messages ?? []) take(m);
        // A batch's partition.eof events are emitted before its callback: the end is checked here,
        // once the batch's messages are in.
        if (remaining.size === 0) finish();
        next();
      });
    };
    consumer.on("ready", () => {
      consumer.assign(partitions.map((partition) => ({ topic: name, partition, offset: 0 })));
      next();
    });
    consumer.on("partition.eof", ({ partition }) => {
      remaining.delete(partition);
    });
    consumer.connect();
  });
  await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  return out;
}

/** A value as a reader wants it: JSON pretty-printed, anything else as its text. */
function showValue(value: string | null): string {
  if (value === null) return "(no value)";
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

async function dump() {
  const messages = (await collect(topic!, limit)).sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  const count = `${messages.length} message${messages.length === 1 ? "" : "s"}${limit !== undefined && messages.length >= limit ? ` (--limit ${limit}; the topic may hold more)` : ""}`;
  let text: string;
  if (parsed.values.json) {
    text = messages.map((m) => JSON.stringify(m) + "\n").join("");
    console.error(count);
  } else {
    const blocks = messages.map((m) => {
      const headers = Object.entries(m.headers).map(([k, v]) => `${k}=${v}`).join("  ");
      const lines = [`partition ${m.partition}  offset ${m.offset}  ${m.timestamp ?? "(no timestamp)"}  key ${m.key ?? "(none)"}`];
      if (headers) lines.push(`  headers: ${headers}`);
      lines.push(...showValue(m.value).split("\n").map((l) => `  ${l}`));
      return lines.join("\n") + "\n";
    });
    text = blocks.join("\n") + count + "\n";
  }
  // One write, finished before the process exits (process.exit would cut a pipe's pending output).
  if (text) await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
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
  const messages: { key?: string | null; value: string | null; headers?: Record<string, string> }[] = [];
  let n = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    n++;
    if (!line.trim()) continue;
    let m: { key?: unknown; value?: unknown; headers?: unknown };
    try {
      m = JSON.parse(line);
    } catch (err) {
      throw new Error(`stdin line ${n} is not JSON (${(err as Error).message}); each line is {"key": "...", "value": "...", "headers": {...}}`);
    }
    if (typeof m !== "object" || m === null || Array.isArray(m) || !("value" in m)) throw new Error(`stdin line ${n}: expected an object with a "value", such as {"key": "p-1", "value": "text"}`);
    if (m.key !== undefined && m.key !== null && typeof m.key !== "string") throw new Error(`stdin line ${n}: "key" must be a string`);
    const value = m.value === null || typeof m.value === "string" ? m.value : JSON.stringify(m.value);
    messages.push({ key: m.key as string | null | undefined, value, ...(m.headers === undefined ? {} : { headers: m.headers as Record<string, string> }) });
  }
  const producer = kafka.producer({ kafkaJS: { idempotent: true, allowAutoTopicCreation: false } });
  await producer.connect();
  await producer.send({ topic: topic!, messages });
  await producer.disconnect();
  console.error(`kafka-tool produce ${topic}: ${messages.length} message(s) sent`);
}

const commands: Record<string, () => Promise<void>> = { create, delete: remove, dump, produce, redrive };
if (!command) usageError("no command");
if (!commands[command]) usageError(`unknown command "${command}"`);
if (!topic) usageError(`${command} needs a topic`);
try {
  await commands[command]!();
  process.exit(0);
} catch (err) {
  console.error(`kafka-tool ${command} ${topic}: ${(err as Error).message}`);
  process.exit(1);
}
