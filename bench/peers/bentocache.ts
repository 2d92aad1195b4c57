// Peer 1 of bench/peers.ts: BentoCache 1.6 with its in-memory L1, Redis L2 and Redis bus (the
// bus tells the other instances to drop their L1 copy on every set and delete). A read is
// getOrSet (BentoCache's single flight per key in the process); a write commits, then deletes the
// key (L1, L2, and a bus message). TTL one hour, as the catalog api's CACHE_TTL_SECONDS default;
// no grace period (BentoCache's default). The L1 is bounded like the api's (L1_MAX_ENTRIES 100,000,
// L1_MAX_BYTES 64 MiB) and keeps its entries serialized (BentoCache's default). Not `serialize:
// false`: with it, 1.6.1 puts an entry read from L2 into L1 still serialized, and the next bus
// message for that key throws in CacheEntry.fromDriver ("undefined is not an object (evaluating
// 'serializer.deserialize')") from the bus subscriber, which ends the process.
import { BentoCache, bentostore } from "bentocache";
import { memoryDriver } from "bentocache/drivers/memory";
import { redisBusDriver, redisDriver } from "bentocache/drivers/redis";
import { env, servePeer } from "./serve.ts";

const url = new URL(env("REDIS_URL"));
const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0) };
const bento = new BentoCache({
  default: "products",
  prefix: env("PEER_PREFIX"),
  ttl: "1h",
  stores: {
    products: bentostore()
      .useL1Layer(memoryDriver({ maxItems: 100_000, maxSize: 64 * 1024 * 1024 }))
      .useL2Layer(redisDriver({ connection }))
      .useBus(redisBusDriver({ connection })),
  },
});

await servePeer("bentocache", {
  async read(id, load) {
    const json = await bento.getOrSet<string | undefined>({
      key: id,
      factory: async ({ skip }) => (await load()) ?? skip(), // an unknown id is not cached
    });
    return json ?? null;
  },
  async invalidate(id) {
    await bento.delete({ key: id });
  },
  async close() {
    await bento.disconnectAll();
  },
});
