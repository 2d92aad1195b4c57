// A Kafka client and what is opened on it (a producer, a consumer), replaced as a whole when its
// librdkafka handle goes fatal: the one place where the relay and the consumers handle that. The
// KafkaJS layer would otherwise retry forever on a handle that can no longer work (seen here when
// a broker restart outlasted a static consumer's session, and when a newer relay fenced an older
// one's producer). createKafka (kafka.ts) reports the fatal error; this file decides what follows.
// It imports no Kafka client (the addon loads on Node only), so its tests run on Bun with fakes.
import type { Logger } from "pino";

export type Disconnectable = { disconnect(): Promise<void> };

export type ReplaceOptions = {
  /** Names it in the log lines: "kafka consumer", "kafka producer". */
  what: string;
  logger: Logger;
  /**
   * After a fatal error the broken client is closed, then:
   * - "at-once": a new one is opened in the background right away, again every `retryMs` until it
   *   opens or `close()` is called (a consumer: it must go on consuming);
   * - "on-open": the next `open()` opens one (the relay: only the leader may open its transactional
   *   producer, because opening it fences every other relay's).
   */
  reopen: "at-once" | "on-open";
  /** Pause between failed reopen attempts (default 1 s). */
  retryMs?: number;
  /** Longest a disconnect is waited for (default 5 s: a dead handle may never answer). */
  disconnectTimeoutMs?: number;
  /** The pause between reopen attempts; tests pass their own. */
  sleep?: (ms: number) => Promise<void>;
};

export type Replaceable<T> = {
  /** The open one, or a new one (which this call opens). */
  open(): Promise<T>;
  /** The open one, if any. */
  current(): T | null;
  /** Treats the open one as broken (a watchdog's verdict): closes it and reopens as after a fatal error. */
  replace(reason: string): void;
  /** Closes the open one (and stops reopening) until the next `open()`. */
  close(): Promise<void>;
};

/**
 * `newClient(onFatal)` makes a client that calls `onFatal` when its handle goes fatal; `build`
 * opens what the process needs on it. A fatal report of a client already replaced is ignored.
 */
export function replaceOnFatal<C, T extends Disconnectable>(
  newClient: (onFatal: (message: string) => void) => C,
  build: (client: C) => Promise<T>,
  options: ReplaceOptions,
): Replaceable<T> {
  const { what, logger, reopen } = options;
  const retryMs = options.retryMs ?? 1000;
  const disconnectTimeoutMs = options.disconnectTimeoutMs ?? 5000;
  const pause = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  let current: { generation: number; value: T } | null = null;
  let generation = 0;
  let opening: Promise<T> | null = null;
  let wanted = false; // open() called and close() not since: only then is a broken client reopened
  let replacing: Promise<void> | null = null;

  const disconnect = async (value: T) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = value.disconnect().catch((err: Error) => logger.warn({ err: err.message }, `${what} disconnect failed`));
    const late = new Promise<void>((resolve) => (timer = setTimeout(() => resolve(logger.warn({ ms: disconnectTimeoutMs }, `${what} did not disconnect in time; dropped`)), disconnectTimeoutMs)));
    await Promise.race([done, late]);
    clearTimeout(timer);
  };

  function open(): Promise<T> {
    wanted = true;
    if (current) return Promise.resolve(current.value);
    opening ??= (async () => {
      const mine = ++generation;
      let fatalWhileOpening: string | null = null;
      const client = newClient((message) => {
        if (mine !== generation) return; // the last words of a client already replaced
        if (current?.generation === mine) broken(message);
        else fatalWhileOpening = message;
      });
      try {
        const value = await build(client);
        current = { generation: mine, value };
        if (fatalWhileOpening !== null) broken(fatalWhileOpening);
        return value;
      } finally {
        opening = null;
      }
    })();
    return opening;
  }

  function broken(reason: string) {
    if (!current) return; // already being replaced
    const dead = current.value;
    current = null;
    logger.error({ reason }, `${what} is broken; replacing it`);
    const previous = replacing;
    const replacement = (async () => {
      await previous; // one replacement at a time
      await disconnect(dead);
      if (reopen === "at-once") {
        for (let attempt = 1; wanted; attempt++) {
          try {
            await open();
            logger.info({ attempt }, `${what} replaced`);
            break;
          } catch (err) {
            logger.warn({ err: (err as Error).message, attempt }, `${what} could not be replaced yet`);
            await pause(retryMs);
          }
        }
      }
    })();
    replacing = replacement;
    void replacement.finally(() => {
      if (replacing === replacement) replacing = null;
    });
  }

  return {
    open,
    current: () => current?.value ?? null,
    replace: broken,
    async close() {
      wanted = false;
      await replacing; // a replacement under way ends (it reopens only while wanted)
      await opening?.catch(() => {});
      const open = current;
      current = null;
      if (open) await disconnect(open.value);
    },
  };
}
