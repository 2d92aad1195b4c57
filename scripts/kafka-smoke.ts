// Kafka round trip against a live broker, run with Node 24 (not Bun: the client is a NAN addon
// that Bun cannot load):  .tools/node_modules/.bin/node scripts/kafka-smoke.ts
// Creates a unique topic, produces one unique message, consumes it with a fresh group, deletes
// the topic. Prints "kafka smoke ok (<ms> ms)" and exits 0; exits 1 on error or after 30 s.
// Env: KAFKA_BROKERS (comma-separated, default 127.0.0.1:9092).
import './lib/help.ts'; // --help: print the usage above and exit, before anything else runs
import kafkaJs from '@confluentinc/kafka-javascript'; // CommonJS package: take the default export

const { Kafka, logLevel } = kafkaJs.KafkaJS;
const TIMEOUT_MS = 30_000;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const started = Date.now();
const id = `${process.pid}-${started}`;
const topic = `smoke-${id}`;
const value = `hello-${id}-${Math.random().toString(36).slice(2)}`;

const kafka = new Kafka({ kafkaJS: { brokers, logLevel: logLevel.ERROR } });
const admin = kafka.admin();
const producer = kafka.producer();
const consumer = kafka.consumer({ kafkaJS: { groupId: `smoke-${id}`, fromBeginning: true } });

async function roundTrip(): Promise<void> {
  await admin.connect();
  await admin.createTopics({ timeout: 10_000, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });

  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'smoke', value }] });

  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  await new Promise<void>((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value?.toString() === value) resolve();
      },
    });
  });
}

// Best effort, and bounded: on failure the clients may be stuck retrying a dead broker.
async function cleanup(): Promise<void> {
  const steps = (async () => {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await admin.deleteTopics({ topics: [topic], timeout: 5_000 }).catch(() => {});
    await admin.disconnect().catch(() => {});
  })();
  await Promise.race([steps, new Promise((r) => setTimeout(r, 8_000))]);
}

function describe(err: unknown): string {
  // KafkaJS-style aggregate errors keep the useful part (e.g. "Local: Timed out") in .errors
  const inner = (err as { errors?: Error[] } | undefined)?.errors?.map((e) => e.message).join('; ');
  return `${err instanceof Error ? err.message : String(err)}${inner ? `: ${inner}` : ''}`;
}

let timer: NodeJS.Timeout | undefined;
// Hard stop: with no broker, librdkafka retries forever rather than throw.
const timeout = new Promise<never>((_, reject) => {
  timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
});

try {
  await Promise.race([roundTrip(), timeout]);
} catch (err) {
  console.error(`kafka smoke FAILED: ${describe(err)} (brokers ${brokers.join(',')})`);
  await cleanup();
  process.exit(1);
}
const ms = Date.now() - started;
clearTimeout(timer);
await cleanup();
console.log(`kafka smoke ok (${ms} ms)`);
process.exit(0);
