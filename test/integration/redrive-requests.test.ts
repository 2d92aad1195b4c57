// The re-drive asked for by an api and carried out by a relay, through a real Redis
// (src/infra/redrive-requests.ts): one relay per request, the outcome back to the api, and the
// api's answer when no relay takes it, including a relay taking it at the last moment.
import { afterAll, expect, test } from "bun:test";
import pino from "pino";
import { createOperatorSources } from "../../src/infra/operator-sources.ts";
import { createPrismaEventStore } from "../../src/infra/prisma-event-store.ts";
import { createRedisClient } from "../../src/infra/redis-cache.ts";
import { NoRelayError, requestRedrive, serveRedriveRequests } from "../../src/infra/redrive-requests.ts";
import { ServiceUnavailableError } from "../../src/usecases/ports.ts";
import { deleteKeys, testPrisma, testRedis, uniquePrefix, waitFor } from "../support/services.ts";

const redis = testRedis();
const prisma = testPrisma();
const logger = pino({ level: "silent" });
const prefixes: string[] = [];
const fresh = () => {
  const prefix = uniquePrefix("redrive");
  prefixes.push(prefix);
  return prefix;
};
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  redis.disconnect();
  await prisma.$disconnect();
});

test("each request is carried out by one relay of several, with its group, and its report comes back to the api", async () => {
  const prefix = fresh();
  const runs: { relay: string; group: string | null }[] = [];
  const relays = ["relay-a", "relay-b"].map((relay) =>
    serveRedriveRequests({ redis, prefix, relay, logger, pollMs: 20, run: async (group) => (runs.push({ relay, group }), { output: `${relay}: sent back ${group ?? "all"}` }) }),
  );
  try {
    const [one, all] = await Promise.all([requestRedrive(redis, prefix, "g1"), requestRedrive(redis, prefix, null)]);
    expect(one.output).toBe(`${one.relay}: sent back g1`);
    expect(all.output).toBe(`${all.relay}: sent back all`);
    expect(runs.map((r) => r.group).sort()).toEqual(["g1", null].sort());
    expect(await redis.llen(`${prefix}:redrive:requests`)).toBe(0);
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
  }
});

test("a failed re-drive is reported to the api with the relay's message", async () => {
  const prefix = fresh();
  const relay = serveRedriveRequests({ redis, prefix, relay: "relay-a", logger, pollMs: 20, run: async () => Promise.reject(new Error("kafka-tool redrive exited with 1: broker down")) });
  try {
    await expect(requestRedrive(redis, prefix, null)).rejects.toThrow("the re-drive failed on relay relay-a: kafka-tool redrive exited with 1: broker down");
  } finally {
    await relay.stop();
  }
});

test("with no relay, the api gives up after the pickup time and takes its request back, so no relay runs it later", async () => {
  const prefix = fresh();
  const started = performance.now();
  await expect(requestRedrive(redis, prefix, "g1", { pickupMs: 300 })).rejects.toBeInstanceOf(NoRelayError);
  expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  expect(await redis.llen(`${prefix}:redrive:requests`)).toBe(0);
});

test("a relay that takes the request just before the api gives up: the api waits for its report instead", async () => {
  const prefix = fresh();
  const asked = requestRedrive(redis, prefix, "g1", { pickupMs: 200 });
  // This "relay" takes the request at once but records nothing until the pickup time is past, as
  // one that popped it an instant before the api's LREM would.
  const raw = await waitFor(() => redis.rpop(`${prefix}:redrive:requests`), 5000, "the request");
  const { id } = JSON.parse(raw) as { id: string };
  await Bun.sleep(400);
  await redis.set(`${prefix}:redrive:${id}`, JSON.stringify({ status: "done", relay: "late", output: "sent back late" }));
  expect(await asked).toEqual({ output: "sent back late", relay: "late" });
});

test("stop() ends the relay's loop after the request in hand; later requests stay for another relay", async () => {
  const prefix = fresh();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let runs = 0;
  const relay = serveRedriveRequests({ redis, prefix, relay: "relay-a", logger, pollMs: 20, run: async () => (runs++, await gate, { output: "done" }) });
  const first = requestRedrive(redis, prefix, "g1");
  await waitFor(() => runs === 1, 5000, "the first request to be taken");
  await redis.lpush(`${prefix}:redrive:requests`, JSON.stringify({ id: "second", group: null, requestedAt: new Date().toISOString() }));
  const stopped = relay.stop();
  release();
  await stopped;
  expect(await first).toMatchObject({ output: "done" });
  expect(runs).toBe(1);
  expect(await redis.llen(`${prefix}:redrive:requests`)).toBe(1);
});

test("the api's re-drive: no relay is 503 for the relay, Redis down is 503 for Redis", async () => {
  const prefix = fresh();
  const store = createPrismaEventStore(prisma);
  const noRelay = createOperatorSources({ redis, prefix, prisma, store, namespaces: ["catalog"], heartbeatIntervalMs: 2000 });
  // The default pickup time (10 s) is what the api waits: a relay polls every 0.5 s.
  const started = performance.now();
  const err = await noRelay.redrive(undefined).catch((e) => e);
  expect(performance.now() - started).toBeGreaterThanOrEqual(10_000);
  expect(err).toBeInstanceOf(ServiceUnavailableError);
  expect((err as ServiceUnavailableError).dependency).toBe("relay");
  expect(((err as Error).cause as Error).message).toContain("no relay took the re-drive request within 10 s");

  const down = createRedisClient("redis://127.0.0.1:1/0", 250); // nothing listens there
  down.on("error", () => {});
  try {
    const sources = createOperatorSources({ redis: down, prefix, prisma, store, namespaces: ["catalog"], heartbeatIntervalMs: 2000 });
    const failed = await sources.redrive("g1").catch((e) => e);
    expect([failed instanceof ServiceUnavailableError, (failed as ServiceUnavailableError).dependency]).toEqual([true, "redis"]);
  } finally {
    down.disconnect();
  }
}, 20_000);
