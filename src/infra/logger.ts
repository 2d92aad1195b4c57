import pino, { type Logger } from "pino";

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  // ISO 8601 times (UTC), readable in the raw JSON too; `bun run logs` pretty-prints them.
  return pino({ level, base: { service: "catalog-cache", ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
