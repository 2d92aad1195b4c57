// The ChangeFeed of a namespace on Redis pub/sub. The compare-and-set scripts publish every change
// of an entry from inside the script (so every writer does, atomically with the write: apis,
// consumers, replays) as "<sequence key>|<n>|<version>|<kind>|<entry key>", n counting the changes
// under that fence. This feed listens on its own connection and reports:
// - a change per message (the id from the key, and the version);
// - a gap when a sequence skips or goes back (a message lost, or a Redis that lost data), and on
//   every (re)subscription (what was published meanwhile is lost: pub/sub keeps nothing);
// - healthy() only while subscribed and while some message arrived within three heartbeats: each
//   process publishes a heartbeat every `heartbeatMs`, so silence means the path is broken.
import { hostname } from "node:os";
import { Cluster } from "ioredis";
import { withNearCache } from "../usecases/near-cache.ts";
import type { ChangeFeed, ProductCache } from "../usecases/ports.ts";
import { keyLayout } from "./cache-format.ts";
import type { RedisClient } from "./redis-cache.ts";

export type ChangeFeedOptions = { keyPrefix: string; namespace: string; heartbeatMs: number; instance: string };

export function createRedisChangeFeed(client: RedisClient, options: ChangeFeedOptions): ChangeFeed {
  const layout = keyLayout(options.keyPrefix, options.namespace, client instanceof Cluster);
  const channel = layout.channel;
  // A subscriber needs a connection of its own; it queues while (re)connecting, unlike the client.
  const sub = client instanceof Cluster ? client.duplicate() : client.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  sub.on("error", () => {}); // reconnects by itself; a lost connection is a gap (below)
  const listeners: Parameters<ChangeFeed["listen"]>[0][] = [];
  const sequences = new Map<string, number>();
  let subscribed = false;
  let lastMessage = 0;
  let closed = false;

  const gap = (reason: string) => {
    sequences.clear();
    for (const l of listeners) l.gap(reason);
  };
  const lost = () => {
    if (subscribed) gap("disconnected");
    subscribed = false;
  };
  let retry: ReturnType<typeof setTimeout> | undefined;
  const subscribe = () => {
    clearTimeout(retry);
    if (closed) return;
    sub.subscribe(channel).then(
      () => {
        subscribed = true;
        lastMessage = performance.now();
        gap("subscribed"); // whatever was published before this moment was not heard
      },
      () => {
        retry = setTimeout(subscribe, 200);
        retry.unref?.();
      },
    );
  };
  sub.on("close", lost);
  sub.on("end", lost);
  sub.on("ready", subscribe);
  if (sub instanceof Cluster) {
    // A Cluster may say "ready" only once: when a node goes (maybe the one this subscription was
    // on), subscribe again (ioredis moves it to a live node), as after a reconnect. Without this,
    // L1 was seen to stay bypassed after a master's failover (the feed never subscribed again).
    sub.on("-node", () => {
      lost();
      retry = setTimeout(subscribe, 100);
      retry.unref?.();
    });
  }
  sub.on("message", (ch: string, message: string) => {
    if (ch !== channel) return;
    lastMessage = performance.now();
    if (message.startsWith("hb|")) return;
    const parts = message.split("|");
    const [source, seqText, versionText] = parts;
    const key = parts.slice(4).join("|");
    const seq = Number(seqText);
    const version = Number(versionText);
    const id = layout.idOfKey(key);
    if (!source || !Number.isInteger(seq) || !Number.isInteger(version) || id === null) return gap("unreadable message");
    const before = sequences.get(source);
    sequences.set(source, seq);
    if (before !== undefined && seq !== before + 1) gap(seq > before ? "sequence skipped" : "sequence went back");
    for (const l of listeners) l.change(id, version, { source, seq });
  });

  const heartbeat = setInterval(() => {
    if (client.status === "ready") client.publish(channel, `hb|${options.instance}`).catch(() => {});
    // A safety net for any way of losing the subscription that no event announced again.
    if (!subscribed && !closed && sub.status === "ready") subscribe();
  }, options.heartbeatMs);
  heartbeat.unref?.();

  return {
    listen(listener) {
      listeners.push(listener);
    },
    healthy: () => subscribed && performance.now() - lastMessage < 3 * options.heartbeatMs,
    async close() {
      closed = true;
      clearTimeout(retry);
      clearInterval(heartbeat);
      subscribed = false;
      sub.disconnect();
    },
  };
}

/**
 * A reading process's cache with its near cache in front, kept right by this namespace's feed;
 * `close` stops the feed. With L1 off, the cache itself.
 */
export function withRedisNearCache(
  client: RedisClient,
  cache: ProductCache,
  options: { keyPrefix: string; namespace: string; l1: { enabled: boolean; maxEntries: number; maxBytes: number; maxStalenessMs: number; heartbeatMs: number; readBarrier?: boolean } },
): { cache: ProductCache; close(): Promise<void> } {
  if (!options.l1.enabled) return { cache, close: async () => {} };
  const feed = createRedisChangeFeed(client, { keyPrefix: options.keyPrefix, namespace: options.namespace, heartbeatMs: options.l1.heartbeatMs, instance: `${hostname()}:${process.pid}` });
  return { cache: withNearCache(cache, feed, options.l1), close: () => feed.close() };
}
