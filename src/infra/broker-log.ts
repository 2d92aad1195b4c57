// One warning when a Kafka client loses its brokers, one info line when it has them back, instead
// of one level-50 line per librdkafka retry (issue 14, item 8: a consumer that lived through a few
// broker restarts held hundreds of "Error: all broker connections are down" and "Error: broker
// transport failure" lines, and librdkafka's own FAIL lines besides). Fed by kafka.ts: every line
// the client logs goes through `line()` first, and the client's statistics reports (every
// STATS_INTERVAL_MS) through `stats()`. Pure (no Kafka client), so its tests run on Bun.
//
// The states: "up" (the start, and after a report with a broker connected), "down" (after a line
// that says a connection failed). Up → down: one warn with the line as its cause. Down → down:
// the line is counted and logged at debug only. Down → up: a statistics report with a broker (a
// real one, not the bootstrap address) in state UP and no failed-connection line since the report
// before: one info with how long it was down and how many lines were held back. A cluster node
// that stays dead while others serve keeps the client "down" (its retries go on failing), so
// its noise stays held back too; the warning said which broker.

export type BrokerLogSink = {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
};

/** librdkafka's failed-connection lines: its FAIL log facility, and the errors the client reports for a lost connection. */
export function isConnectionFailure(message: string, fac?: string): boolean {
  if (fac === "FAIL") return true;
  return /all broker connections are down|broker transport failure|Local: Broker transport failure|Local: All broker connections are down|Connect to .* failed|Host resolution failure/i.test(message);
}

/** The broker a librdkafka line names ("[thrd:…]: 127.0.0.1:9092/1: Connect to …" → "127.0.0.1:9092/1"), if any. */
export function brokerOf(message: string): string | null {
  const m = /^(?:\[thrd:[^\]]*\]: )?([^\s:]+:\d+\/(?:\d+|bootstrap)|GroupCoordinator(?:: [^\s:]+:\d+)?):/.exec(message);
  return m ? m[1]! : null;
}

/** True when a statistics report (librdkafka's JSON) shows a real broker (node id >= 0) connected. */
export function brokerUp(stats: unknown): boolean {
  const brokers = (stats as { brokers?: Record<string, { nodeid?: number; state?: string }> } | null)?.brokers;
  if (!brokers || typeof brokers !== "object") return false;
  return Object.values(brokers).some((b) => typeof b?.nodeid === "number" && b.nodeid >= 0 && b.state === "UP");
}

export type BrokerLog = {
  /** A line the client logs at warn or error; true when it was a failed connection (handled here: the caller logs nothing). */
  line(message: string, fac?: string): boolean;
  /** A statistics report, as the JSON text librdkafka emits or parsed. */
  stats(report: string | object): void;
  state(): "up" | "down";
};

export function createBrokerLog(sink: BrokerLogSink, now: () => number = Date.now): BrokerLog {
  let down: { since: number; held: number } | null = null;
  let failedSinceReport = false;
  return {
    line(message, fac) {
      if (!isConnectionFailure(message, fac)) return false;
      failedSinceReport = true;
      if (!down) {
        down = { since: now(), held: 0 };
        const broker = brokerOf(message);
        sink.warn({ cause: message, ...(broker ? { broker } : {}) }, "kafka broker connection lost; retrying (logged once, and once more when it is back)");
      } else {
        down.held++;
        sink.debug({ cause: message }, "kafka broker still unreachable");
      }
      return true;
    },
    stats(report) {
      let parsed: unknown = report;
      if (typeof report === "string") {
        try {
          parsed = JSON.parse(report);
        } catch {
          return;
        }
      }
      const failed = failedSinceReport;
      failedSinceReport = false;
      if (!down || failed || !brokerUp(parsed)) return;
      sink.info({ downMs: now() - down.since, held: down.held }, "kafka broker connection back");
      down = null;
    },
    state: () => (down ? "down" : "up"),
  };
}
