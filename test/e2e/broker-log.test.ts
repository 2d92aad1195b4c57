// A relay and a consumer that live through a broker restart log it once and once more (issue 14,
// item 8): "kafka broker connection lost" (warn, with its cause) when the broker goes, "kafka
// broker connection back" (info, with how many retry lines were held back) when it returns, and
// none of librdkafka's per-retry level-50 lines ("all broker connections are down", "broker
// transport failure", "Connect to … failed"). The broker is one of the test's own (scripts/kafka.sh
// with KAFKA_DIR and other ports), so stopping it disturbs nothing else.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPipeline, type Pipeline } from "../support/pipeline.ts";
import { ROOT } from "../support/processes.ts";
import { waitFor } from "../support/services.ts";

const PORT = 29292;
const dir = mkdtempSync(join(tmpdir(), "broker-log-kafka-"));
const brokerEnv = { ...process.env, KAFKA_DIR: dir, KAFKA_PORT: String(PORT), KAFKA_CONTROLLER_PORT: String(PORT + 1) };
async function kafka(cmd: "start" | "stop") {
  const proc = Bun.spawn(["bash", "scripts/kafka.sh", cmd], { cwd: ROOT, env: brokerEnv, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`kafka.sh ${cmd} (port ${PORT}) exited ${code}: ${err || out}`);
}

let p: Pipeline;
beforeAll(async () => {
  await kafka("start");
  p = await createPipeline("brokerlog", { brokers: `127.0.0.1:${PORT}` });
}, 120_000);
afterAll(async () => {
  await p?.close();
  await kafka("stop").catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

type Line = { level: number; msg: string; cause?: string; downMs?: number; held?: number };
const lines = (output: string): Line[] =>
  output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);
// librdkafka's lines of a lost connection: which one comes first depends on when the broker goes
// (a stop seen as "Disconnected" on a connection in use, or a refused connect, or the client's error).
const CONNECTION_FAILURE = /all broker connections are down|broker transport failure|Connect to .* failed|Disconnected/;

test("a broker restart: one warn with its cause, one info when it is back, no line per retry", async () => {
  const api = await p.startApi();
  const relay = await p.startRelay();
  const consumer = await p.startConsumer("catalog", "rebuild");
  const ids = await p.createProducts(api.url, "b", 5);
  await p.converged(ids, ["catalog"]);
  const load = p.startWriteLoad(api.url, ids, 2);
  await load.more(10, "before the broker stops");

  await kafka("stop");
  const lost = (proc: { output(): string }) => lines(proc.output()).filter((l) => l.msg.startsWith("kafka broker connection lost"));
  await waitFor(() => lost(relay).length > 0 && lost(consumer).length > 0, 30_000, "both to log the lost broker");
  await load.more(10, "while the broker is down");
  await kafka("start"); // some seconds: the clients retry meanwhile
  const back = (proc: { output(): string }) => lines(proc.output()).filter((l) => l.msg === "kafka broker connection back");
  await waitFor(() => back(relay).length > 0 && back(consumer).length > 0, 60_000, "both to log the broker back");
  await load.more(10, "after the broker is back");
  await load.stop();
  await p.converged(ids, ["catalog"], 60_000);

  // The retries happened (the broker took seconds to start) and were held back, not logged: in one
  // process at least. How many a client makes depends on its reconnect backoff, and one that tried
  // once before the broker was back has none to hold (the repeated e2e run of 08dd4ab saw that).
  const held = (proc: { output(): string }) => back(proc).reduce((n, l) => n + (l.held ?? 0), 0);
  expect(held(relay) + held(consumer)).toBeGreaterThan(0);
  for (const [name, proc] of [["relay", relay], ["consumer", consumer]] as const) {
    const all = lines(proc.output());
    // Once each: a process's Kafka client (the consumer's member and its dead-letter producer share one).
    expect({ name, lost: lost(proc).length, back: back(proc).length }).toEqual({ name, lost: 1, back: 1 });
    expect(lost(proc)[0]).toMatchObject({ level: 40, cause: expect.stringMatching(CONNECTION_FAILURE) });
    expect(back(proc)[0]!.downMs).toBeGreaterThan(0);
    expect({ name, perRetry: all.filter((l) => l.level >= 40 && CONNECTION_FAILURE.test(l.msg)).map((l) => l.msg) }).toEqual({ name, perRetry: [] });
  }
  for (const proc of [relay, consumer, api]) proc.kill("SIGTERM");
  await Promise.all([relay.exited, consumer.exited, api.exited]);
}, 180_000);
