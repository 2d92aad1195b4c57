// The Kafka client's logger (librdkafka's lines included), apart from kafka.ts so that Bun's unit
// tests can load it (kafka.ts imports the client, which Bun cannot). Erasable TypeScript.
import type { Logger } from "pino";
import type { BrokerLog } from "./broker-log.ts";

/**
 * The client's own log lines (librdkafka's included) go through pino, as JSON like ours. They are
 * also the only place where a fatal librdkafka error shows: the KafkaJS layer logs it and retries
 * forever on a handle that can no longer work (seen here after a broker restart timed out a static
 * consumer's session). `onFatal` hands it to replaceOnFatal (kafka-replace.ts), which replaces the
 * client; a consumer's timed-out group session (librdkafka's SESSTMOUT) is handed over the same
 * way. A failed connection is logged once, and once more when a broker is back (broker-log.ts), not
 * once per librdkafka retry.
 */
export function kafkaLogger(logger: Logger, brokers: BrokerLog, onFatal?: (message: string) => void) {
  const log = logger.child({ layer: "kafka" });
  const fac = (extra?: object) => (extra as { fac?: string } | undefined)?.fac;
  const adapter = {
    info: (message: string, extra?: object) => log.info(extra ?? {}, message),
    warn: (message: string, extra?: object) => {
      if (onFatal && fac(extra) === "SESSTMOUT") {
        // The consumer's group session timed out: its partitions are gone. librdkafka rejoins by
        // itself as a rule, but after two broker restarts in a row the chaos run saw a member whose
        // coordinator requests then timed out for over a minute (the watchdog's 60 s came after the
        // run's drain). A new client rejoins at once, under the same static instance id.
        log.warn(extra ?? {}, message);
        onFatal(message);
        return;
      }
      if (!brokers.line(message, fac(extra))) log.warn(extra ?? {}, message);
    },
    error: (message: string, extra?: object) => {
      if (onFatal && /Local: Fatal error|Fatal error:/.test(message)) {
        log.error(extra ?? {}, message);
        onFatal(message);
        return;
      }
      if (!brokers.line(message, fac(extra))) log.error(extra ?? {}, message);
    },
    debug: (message: string, extra?: object) => log.debug(extra ?? {}, message),
    namespace: () => adapter,
    setLogLevel: () => {},
  };
  return adapter;
}

