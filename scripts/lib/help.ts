// `--help` (or `-h`) for a command-line script: prints the script's leading comment block (its
// usage) on stdout and exits 0. Import it first, as a bare import, so it runs before the script's
// other imports are evaluated (ES modules evaluate in import order) and before any side effect:
//   import "./lib/help.ts";
// Works on Bun and on Node 24 (which runs the Kafka-side scripts). Only the arguments of the
// command itself count: `process.argv[1]` is the script, the rest are its arguments.
import { readFileSync, writeSync } from "node:fs";

export function usageOf(file: string): string {
  const lines: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.startsWith("//")) break;
    lines.push(line.replace(/^\/\/ ?/, ""));
  }
  return lines.join("\n");
}

const script = process.argv[1];
const args = process.argv.slice(2);
if (script && (args.includes("--help") || args.includes("-h"))) {
  // Synchronous, so the whole text is out before the exit (a pipe's pending write would be cut).
  writeSync(1, usageOf(script) + "\n");
  process.exit(0);
}
