// The life of a process, written once for the api (Bun) and the relay and consumers (Node 24):
// configuration, start, SIGTERM/SIGINT, a drain with a deadline, exit codes, fatal errors. Only
// the entry points (src/main.ts, relay/main.ts, consumers/consumer.ts) import it.
//
// Exit codes: 0 after a stop that finished; 1 after a fatal error (the start failed, an uncaught
// exception, an unhandled rejection), a stop that missed its deadline, or a second signal during
// the stop; 2 for a bad configuration (an operator's error, reported on stderr, not a crash).
import type { Logger } from "pino";
import { ConfigError } from "./config.ts";
import { createLogger } from "./infra/logger.ts";

export type Running = {
  /** Logged when the stop begins: what the drain does ("finishing the batch in flight"). */
  stopping: string;
  /** Drains and closes what the process opened; the process exits when it resolves. */
  stop(): Promise<void>;
};

export type ProcessSpec<C extends { logLevel: string }> = {
  /** The logger's `process` field: api, relay, consumer. */
  name: string;
  /** What --help prints: how the process is started and what it does (its settings come from the environment). */
  usage: string;
  loadConfig: () => C;
  /** More fields on every log line (a consumer's namespace and mode, say). */
  logFields?: (config: C) => Record<string, unknown>;
  start: (config: C, logger: Logger) => Promise<Running>;
  /**
   * How long the stop may take (default 10 s: docker's grace period; scripts/procs.sh kills after
   * 15 s). Past it the process says so and exits 1 rather than waiting to be killed.
   */
  stopDeadlineMs?: number;
};

/** Exits 2 with "configuration error: <reason>" on stderr when the environment is wrong. */
export function configOrExit<C>(load: () => C): C {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

/** Runs a process until SIGTERM or SIGINT, then stops it once and exits (see the codes above). */
export async function runProcess<C extends { logLevel: string }>(spec: ProcessSpec<C>): Promise<void> {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(`${spec.usage.trim()}\n\nIt takes no arguments: every setting is an environment variable, listed with its default in\ndocs/CONFIGURATION.md. SIGTERM or SIGINT stops it gracefully.\n`);
    process.exit(0);
  }
  const config = configOrExit(spec.loadConfig);
  const logger = createLogger(config.logLevel, { process: spec.name, ...spec.logFields?.(config) });
  const deadlineMs = spec.stopDeadlineMs ?? 10_000;

  const die = (err: unknown, msg: string): never => {
    logger.fatal({ err }, msg);
    process.exit(1);
  };
  process.on("uncaughtException", (err) => die(err, "uncaught exception"));
  process.on("unhandledRejection", (reason) => die(reason, "unhandled rejection"));

  let running: Running | null = null;
  let signalled: string | null = null;
  async function stop() {
    logger.info({ signal: signalled }, `${spec.name} stopping: ${running!.stopping}`);
    try {
      await running!.stop();
    } catch (err) {
      die(err, "the stop failed");
    }
    logger.info("stopped");
    process.exit(0);
  }
  function onSignal(signal: string) {
    if (signalled !== null) {
      logger.error({ signal, first: signalled }, "second signal while stopping: exiting without finishing");
      process.exit(1);
    }
    signalled = signal;
    // The deadline counts from the signal, so a start that hangs (a broker that never answers) ends too.
    setTimeout(() => {
      logger.error({ signal, deadlineMs }, "the stop did not finish in time; exiting");
      process.exit(1);
    }, deadlineMs).unref();
    if (running !== null) void stop(); // else: stopped as soon as the start returns
  }
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));

  try {
    running = await spec.start(config, logger);
  } catch (err) {
    die(err, `the ${spec.name} could not start`);
  }
  if (signalled !== null) await stop();
}
