import pino, { type Logger } from "pino";

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: "catalog-cache", ...base } });
}
