// Reading a service's own cache namespace with nothing but ioredis: the key layout, the entry
// format "<version>|<kind>|<epoch>|<payload>" and the fence, as src/infra/cache-format.ts defines
// them. docs/CLIENTS.md quotes this file; test/integration/client-examples.test.ts runs it.
// A service written in TypeScript should rather reuse createRedisCache (see service-reader.ts).
import type { Cluster, Redis } from "ioredis";

export type Keys = { entry: string; fence: string };

/** One Redis server: the entry `<prefix>:<namespace>:product:{<id>}` and one fence per namespace. */
export function keysOnServer(prefix: string, namespace: string, id: string): Keys {
  return { entry: `${prefix}:${namespace}:product:{${id}}`, fence: `${prefix}:${namespace}:fence` };
}

/** A Redis Cluster: 128 buckets, each with its own hash tag and fence (one slot per bucket). */
export function keysOnCluster(prefix: string, namespace: string, id: string): Keys {
  let h = 0x811c9dc5; // FNV-1a over the id's UTF-16 code units
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  const tag = `{${prefix}:${namespace}:${(h >>> 0) % 128}}`;
  return { entry: `${prefix}:${namespace}:product:${tag}:${id}`, fence: `${prefix}:${namespace}:fence:${tag}` };
}

export type Lookup =
  | { kind: "product"; version: number; json: string } // p: serve json, ETag "<version>"
  | { kind: "deleted"; version: number } // t: 404
  | { kind: "unknown" } // n: 404, an id that was never created
  | { kind: "miss"; atLeast?: number }; // read the catalog api (?minVersion=atLeast) and fill

// One round trip, on the node that holds the slot: the entry, its fence, and that server's run_id.
const READ = "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')}";

export async function lookup(redis: Redis | Cluster, keys: Keys): Promise<Lookup> {
  const [raw, fence, runId] = (await redis.eval(READ, 2, keys.entry, keys.fence)) as [string | null, string | null, string];
  const e = /^(\d{1,15})\|([ptmn])\|([0-9a-z]+|-)\|/.exec(raw ?? "");
  const version = Number(e?.[1]);
  if (!e || (version === 0 && e[2] !== "n")) return { kind: "miss" }; // no entry, or not one
  const f = /^([0-9a-z]+)\|([0-9a-f]+)$/.exec(fence ?? "");
  // Serve only under a fence armed by this very server process, and only an entry of its epoch:
  // anything else may predate a loss of Redis data. Its version existed, so ask for at least that.
  if (!f || f[2] !== runId || e[3] !== f[1]) return { kind: "miss", atLeast: version || undefined };
  if (e[2] === "p") return { kind: "product", version, json: raw!.slice(e[0].length) };
  if (e[2] === "t") return { kind: "deleted", version };
  if (e[2] === "n") return { kind: "unknown" };
  return { kind: "miss", atLeast: version }; // m: version N exists, its data is not here
}
