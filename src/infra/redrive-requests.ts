// The dead letters' re-drive, asked for by an api and carried out by a relay. The api runs on Bun,
// where the Kafka client does not; every relay runs on Node 24 with the brokers' addresses. So the
// api puts a request on a Redis list, any relay takes it (RPOP: one relay per request, leader or
// standby), runs `kafka-tool redrive` and leaves the outcome under the request's id, which the api
// waits for. If no relay takes the request in time, the api takes it back (LREM) and answers that
// no relay is running; if a relay took it meanwhile, the api waits for its outcome instead.
//   {prefix}:redrive:requests    list of requests, JSON {id, group, requestedAt}
//   {prefix}:redrive:{id}        the outcome, JSON {status: running | done | failed, relay, output | error}
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { ServiceUnavailableError } from "../usecases/ports.ts";
import type { RedisClient } from "./redis-cache.ts";

export type RedriveRequest = { id: string; group: string | null; requestedAt: string };
export type RedriveOutcome =
  | { status: "running"; relay: string }
  | { status: "done"; relay: string; output: string }
  | { status: "failed"; relay: string; error: string };

const requestsKey = (prefix: string) => `${prefix}:redrive:requests`;
const outcomeKey = (prefix: string, id: string) => `${prefix}:redrive:${id}`;
/** How long an outcome is kept: the api reads it within the deadline. */
const OUTCOME_TTL_SECONDS = 3600;

/** No relay took the request in time: none runs, or none reaches this Redis. */
export class NoRelayError extends Error {
  constructor(waitedMs: number) {
    super(`no relay took the re-drive request within ${waitedMs / 1000} s: is a relay running, with the same REDIS_URL and CACHE_KEY_PREFIX?`);
    this.name = "NoRelayError";
  }
}

/**
 * The api's side: asks for a re-drive of `group`'s dead letters (all when null) and waits for a
 * relay to carry it out. Throws NoRelayError when none takes it within `pickupMs`,
 * ServiceUnavailableError("redis") when Redis fails it, and an Error with the relay's report when
 * the re-drive failed or did not end within `deadlineMs`.
 */
export async function requestRedrive(
  redis: RedisClient,
  prefix: string,
  group: string | null,
  opts: { pickupMs?: number; deadlineMs?: number; pollMs?: number } = {},
): Promise<{ output: string; relay: string }> {
  const { pickupMs = 10_000, deadlineMs = 120_000, pollMs = 100 } = opts;
  const request: RedriveRequest = { id: crypto.randomUUID(), group, requestedAt: new Date().toISOString() };
  const text = JSON.stringify(request);
  const started = performance.now();
  const io = <T>(command: Promise<T>) =>
    command.catch((err) => {
      throw new ServiceUnavailableError("redis", err);
    });
  await io(redis.lpush(requestsKey(prefix), text));
  let taken = false;
  for (;;) {
    const raw = await io(redis.get(outcomeKey(prefix, request.id)));
    if (raw !== null) {
      taken = true;
      const outcome = JSON.parse(raw) as RedriveOutcome;
      if (outcome.status === "done") return { output: outcome.output, relay: outcome.relay };
      if (outcome.status === "failed") throw new Error(`the re-drive failed on relay ${outcome.relay}: ${outcome.error}`);
    }
    const waited = performance.now() - started;
    if (!taken && waited >= pickupMs) {
      // Taken back, unless a relay popped it just now (then its outcome follows).
      if ((await io(redis.lrem(requestsKey(prefix), 1, text))) === 1) throw new NoRelayError(pickupMs);
      taken = true;
    }
    if (waited >= deadlineMs) throw new Error(`the re-drive did not end within ${deadlineMs / 1000} s`);
    await sleep(pollMs);
  }
}

/**
 * The relay's side: takes requests from the list while running and carries each out with `run`
 * (one at a time), recording "running" first and then the outcome. Redis unreachable: tried again
 * after `pollMs`. `stop()` aborts the request in hand (its `run`'s signal) and ends the loop once
 * that has settled.
 */
export function serveRedriveRequests(opts: {
  redis: RedisClient;
  prefix: string;
  /** This relay's name in the outcome (its heartbeat's instance id). */
  relay: string;
  /** Carries out one request; `signal` aborts when stop() is called. */
  run: (group: string | null, signal: AbortSignal) => Promise<{ output: string }>;
  logger: Logger;
  pollMs?: number;
}): { stop(): Promise<void> } {
  const { redis, prefix, relay, run, logger, pollMs = 500 } = opts;
  const stopping = new AbortController();
  const record = (id: string, outcome: RedriveOutcome) => redis.set(outcomeKey(prefix, id), JSON.stringify(outcome), "EX", OUTCOME_TTL_SECONDS);
  const loop = (async () => {
    while (!stopping.signal.aborted) {
      let raw: string | null = null;
      try {
        raw = await redis.rpop(requestsKey(prefix));
      } catch (err) {
        logger.debug({ err: (err as Error).message }, "re-drive requests: Redis unreachable");
      }
      if (raw === null) {
        await sleep(pollMs, undefined, { signal: stopping.signal }).catch(() => {}); // cut short by stop()
        continue;
      }
      let request: RedriveRequest;
      try {
        request = JSON.parse(raw) as RedriveRequest;
        if (typeof request.id !== "string" || (request.group !== null && typeof request.group !== "string")) throw new Error("not a re-drive request");
      } catch (err) {
        logger.warn({ err: (err as Error).message, raw: raw.slice(0, 200) }, "re-drive requests: dropped an unreadable request");
        continue;
      }
      logger.info({ id: request.id, group: request.group ?? "all" }, "re-driving dead letters for an operator");
      try {
        await record(request.id, { status: "running", relay });
        const { output } = await run(request.group, stopping.signal);
        await record(request.id, { status: "done", relay, output });
        logger.info({ id: request.id, output }, "dead letters re-driven");
      } catch (err) {
        const error = (err as Error).message;
        logger.warn({ id: request.id, err: error }, "re-drive failed");
        await record(request.id, { status: "failed", relay, error }).catch(() => {});
      }
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
