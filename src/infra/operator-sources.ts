// Where the operator's views read (src/http/operator.ts): heartbeats, entries and dead letters in
// Redis, the outbox backlog and the events in PostgreSQL; the re-drive is asked of a relay.
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { OperatorDeps } from "../http/operator.ts";
import { ServiceUnavailableError, type EventStore } from "../usecases/ports.ts";
import { readDeadLetters } from "./dead-letters.ts";
import { listProcesses } from "./heartbeat.ts";
import type { RedisClient } from "./redis-cache.ts";
import { readEntries } from "./redis-inspect.ts";
import { NoRelayError, requestRedrive } from "./redrive-requests.ts";
import { redisOrUnavailable } from "./redis-jobs.ts";

export function createOperatorSources(opts: {
  redis: RedisClient;
  prefix: string;
  prisma: PrismaClient;
  store: EventStore;
  namespaces: readonly string[];
  heartbeatIntervalMs: number;
  /** Instead of asking a relay (the in-process tests). */
  redrive?: OperatorDeps["redrive"];
}): Omit<OperatorDeps, "logger"> {
  const { redis, prefix, prisma, store } = opts;
  return {
    namespaces: [...new Set(opts.namespaces)],
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    processes: redisOrUnavailable(() => listProcesses(redis, prefix)),
    async backlog() {
      const [row] = await prisma.$queryRaw<{ n: bigint; age: number | null }[]>`
        SELECT count(*) AS n, extract(epoch FROM now() - min(created_at))::float8 AS age FROM outbox WHERE sent_at IS NULL`;
      return { rows: Number(row!.n), oldestAgeSeconds: row!.age ?? 0 };
    },
    history: (id) => store.history(id),
    async snapshot(id) {
      const s = await store.loadState(id);
      return s && { version: s.version, deleted: s.deleted };
    },
    entries: redisOrUnavailable((namespaces: readonly string[], id: string) => readEntries(redis, prefix, namespaces, id)),
    deadLetters: redisOrUnavailable((limit: number) => readDeadLetters(redis, prefix, limit)),
    redrive:
      opts.redrive ??
      (async (group) => {
        try {
          return { output: (await requestRedrive(redis, prefix, group ?? null)).output };
        } catch (err) {
          throw err instanceof NoRelayError ? new ServiceUnavailableError("relay", err) : err;
        }
      }),
  };
}
