// Real services for integration tests. In CI they are started by .ci/run; a missing service makes
// the tests fail with the connection error, never skip.
import Redis, { Cluster } from "ioredis";
import { deleteClusterKeys } from "./redis-cluster.ts";
import { createPrismaClient } from "../../src/infra/prisma-event-store.ts";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/catalog_test";
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";

/** A key prefix and id prefix unique to this test file's run, so files and runs never collide. */
export const uniquePrefix = (label: string) => `t-${label}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export function testPrisma() {
  return createPrismaClient(TEST_DATABASE_URL, 5);
}

export function testRedis(url = TEST_REDIS_URL) {
  return new Redis(url, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
}

/** Deletes every key under a prefix (SCAN, never KEYS; on a Cluster, on every master). */
export async function deleteKeys(redis: Redis | Cluster, prefix: string) {
  if (redis instanceof Cluster) return deleteClusterKeys(redis, prefix);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

/** Polls until `check` returns a truthy value, or fails with the last value after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last as NonNullable<T>;
    await Bun.sleep(20);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/**
 * A database of its own, migrated, for tests whose subject reads every row (a full replay, the
 * relay): the shared test database holds every other file's products. Drop it when done.
 */
export async function isolatedDatabase(label: string) {
  const pg = (await import("pg")).default;
  const name = `catalog_${label}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  const url = TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  const migrate = Bun.spawn([process.execPath, "scripts/migrate.ts", "deploy"], { env: { ...process.env, DATABASE_URL: url }, stdout: "ignore", stderr: "pipe" });
  if ((await migrate.exited) !== 0) throw new Error(`migrating ${name} failed: ${await new Response(migrate.stderr).text()}`);
  return {
    url,
    name,
    async drop() {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/?]+(\?|$)/, "/postgres$1") });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}
