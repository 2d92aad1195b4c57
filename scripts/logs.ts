// The processes' logs, readable: pino's JSON lines pretty-printed by pino-pretty (times in UTC,
// level names, the process in front, the other fields indented below), merged in time order.
//   bun run logs                        the last 100 lines of every log in .run/logs/, merged
//   bun run logs -- -f                  the same, then follow them (Ctrl-C stops)
//   bun run logs -- --level warn relay  only warnings and errors, of the relay only
//   bun scripts/logs.ts [-f] [-n LINES] [--level LEVEL] [--dir DIR] [NAME...]
// NAME: a log of .run/logs/ without ".log" (scripts/up.sh writes api, relay, consumer-catalog,
// consumer-storefront and storefront there; api-2, relay-2, consumer-catalog-2 and
// consumer-storefront-2 too with CLUSTER=1); every log there by default.
// -n LINES: the last LINES of each log before merging (default 100); --level: trace, debug, info,
// warn, error or fatal, the lowest shown (default: all); --dir: another folder of logs. A line
// that is not JSON (a crash's stack trace, say) is shown as it is, after its log's name (not with --level).
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { prettyFactory } from "pino-pretty";

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const USAGE = "usage: bun run logs -- [-f] [-n LINES] [--level LEVEL] [--dir DIR] [NAME...]  (--help for more)";

function parse() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        follow: { type: "boolean", short: "f", default: false },
        lines: { type: "string", short: "n", default: "100" },
        level: { type: "string" },
        dir: { type: "string" },
      },
    });
  } catch (err) {
    console.error(`logs: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { values, positionals } = parse();
const lines = Number(values.lines);
const level = values.level === undefined ? 0 : LEVELS[values.level];
if (!Number.isInteger(lines) || lines < 0 || level === undefined) {
  console.error(`logs: -n takes a whole number, --level one of ${Object.keys(LEVELS).join(", ")}\n${USAGE}`);
  process.exit(2);
}
const minLevel: number = level;
const dir = resolve(values.dir ?? join(import.meta.dir, "..", ".run", "logs"));
if (!existsSync(dir)) {
  console.error(`logs: ${dir} does not exist: nothing has run yet (scripts/up.sh starts the processes and writes their logs there)`);
  process.exit(1);
}
const available = readdirSync(dir).filter((f) => f.endsWith(".log")).map((f) => f.slice(0, -4)).sort();
const names = positionals.length ? positionals : available;
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length) {
  console.error(`logs: no ${unknown.map((n) => `${n}.log`).join(", ")} in ${dir} (there: ${available.join(", ") || "nothing"})`);
  process.exit(1);
}

const pretty = prettyFactory({
  colorize: process.stdout.isTTY === true,
  translateTime: "UTC:yyyy-mm-dd HH:MM:ss.l'Z'",
  ignore: "pid,hostname,service,process,namespace",
  // "[consumer catalog] message": the process, and a consumer's namespace.
  messageFormat: (log, messageKey) => {
    const who = [log.process, log.namespace].filter((v) => typeof v === "string" && v).join(" ");
    return `${who ? `[${who}] ` : ""}${String(log[messageKey] ?? "")}`;
  },
  singleLine: false,
});

type Entry = { time: number; text: string };
/** One line of a log as it is shown, or null when --level hides it. `time` orders the merge. */
function render(name: string, line: string, fallbackTime: number): Entry | null {
  let record: { time?: unknown; level?: unknown } | null = null;
  if (line.startsWith("{")) {
    try {
      record = JSON.parse(line);
    } catch {
      record = null;
    }
  }
  if (!record || typeof record !== "object") return minLevel > 0 ? null : { time: fallbackTime, text: `${name}: ${line}\n` };
  if (typeof record.level === "number" && record.level < minLevel) return null;
  // The processes write ISO times; older logs (and other pino writers) epoch milliseconds.
  const time = typeof record.time === "number" ? record.time : typeof record.time === "string" && !Number.isNaN(Date.parse(record.time)) ? Date.parse(record.time) : fallbackTime;
  return { time, text: pretty(record) };
}

const out = (text: string) => process.stdout.write(text);
const entries: Entry[] = [];
for (const name of names) {
  const all = readFileSync(join(dir, `${name}.log`), "utf8").split("\n").filter(Boolean);
  let last = 0;
  for (const line of lines === 0 ? [] : all.slice(-lines)) {
    const e = render(name, line, last);
    if (e) {
      last = e.time;
      entries.push(e);
    }
  }
}
// A stable sort: lines of one log keep their order, a non-JSON line stays after the line before it.
entries.sort((a, b) => a.time - b.time);
out(entries.map((e) => e.text).join(""));

if (values.follow) {
  // One `tail -F` per log (it follows a log that is truncated or written anew by a restart).
  for (const name of names) {
    const tail = Bun.spawn(["tail", "-n", "0", "-F", join(dir, `${name}.log`)], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
    void (async () => {
      let rest = "";
      const decoder = new TextDecoder();
      for await (const chunk of tail.stdout) {
        const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
        rest = parts.pop()!;
        for (const line of parts) {
          const e = line && render(basename(name), line, Date.now());
          if (e) out(e.text);
        }
      }
    })();
  }
  process.on("SIGINT", () => process.exit(0));
}
