// Peer 2 of bench/peers.ts: cache-manager 7 over Keyv with its Redis store (@keyv/redis, which
// talks to Redis through node-redis). Plain cache-aside: a read is `wrap` (get; on a miss load and
// set, with cache-manager's single flight per key in the process); a write commits, then deletes
// the key. TTL one hour, as the catalog api's CACHE_TTL_SECONDS default. No in-process layer.
import { createKeyv } from "@keyv/redis";
import { createCache } from "cache-manager";
import { env, servePeer } from "./serve.ts";

const keyv = createKeyv(env("REDIS_URL"), { namespace: env("PEER_PREFIX") });
const cache = createCache({ stores: [keyv] });
const TTL_MS = 3600 * 1000;

await servePeer("cache-manager", {
  read: (id, load) => cache.wrap(id, load, TTL_MS),
  async invalidate(id) {
    await cache.del(id);
  },
  async close() {
    await cache.disconnect();
  },
});
