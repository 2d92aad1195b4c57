// Every command a user runs from scripts/ and bench/ answers --help with its usage on stdout and
// exit code 0, and does nothing else (issue 14, item 6). The list is read from the folders, so a
// new script is held to it too. Each runs as it is run by hand: shell scripts with bash, the
// Kafka-side .ts scripts (they import the Kafka client, which Bun cannot load) with the project's
// Node 24, the others with Bun.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, NODE24, ROOT } from "../support/processes.ts";

async function run(cmd: string[]) {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

// Sourced by the other scripts, not run.
const SOURCED = new Set(["scripts/env.sh", "scripts/procs.sh"]);
const commands = ["scripts", "bench"].flatMap((dir) =>
  readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|sh)$/.test(e.name))
    .map((e) => `${dir}/${e.name}`)
    .filter((f) => !SOURCED.has(f)),
);

function runnerOf(file: string, text: string): string[] {
  if (file.endsWith(".sh")) return ["bash", file];
  return text.includes("@confluentinc/kafka-javascript") ? [NODE24, file] : [BUN, file];
}

test("the list covers the commands the README and the issue name", () => {
  for (const f of ["scripts/check-consistency.ts", "scripts/kafka-tool.ts", "scripts/kafka-tool.sh", "scripts/replay.ts", "scripts/chaos.ts", "scripts/fuzz-http.ts", "scripts/migrate.ts", "scripts/setup.sh", "scripts/up.sh", "scripts/down.sh", "scripts/test.sh", "scripts/kafka.sh", "scripts/redis-cluster.sh", "bench/zipf.ts", "bench/setup.sh"])
    expect(commands).toContain(f);
});

describe("--help prints usage and exits 0", () => {
  for (const file of commands) {
    test(file, async () => {
      const text = readFileSync(join(ROOT, file), "utf8");
      // Without a --help of its own the script would run for real (up.sh would start the stack,
      // down.sh stop it): refuse to spawn one that has no --help handling at all.
      expect(/lib\/help\.(ts|sh)|help: \{ type: "boolean"/.test(text)).toBe(true);
      const { code, stdout, stderr } = await run([...runnerOf(file, text), "--help"]);
      // The usage, on stdout, names the command as it is typed (e.g. "bun bench/zipf.ts [--rate R]").
      expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: expect.stringContaining(file), stderr: "" });
    });
  }
});

describe("the processes answer --help with their usage, and start nothing", () => {
  for (const [file, runtime] of [["src/main.ts", BUN], ["storefront/main.ts", BUN], ["relay/main.ts", NODE24], ["consumers/consumer.ts", NODE24]] as const) {
    test(file, async () => {
      const { code, stdout, stderr } = await run([runtime, file, "--help"]);
      expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: expect.stringContaining(file), stderr: "" });
      expect(stdout).toContain("docs/CONFIGURATION.md");
    });
  }
});

test("kafka-tool: bad arguments give the usage line and exit 2, not a stack trace", async () => {
  for (const args of [[], ["frobnicate", "t"], ["dump"], ["dump", "t", "--limit", "0"], ["dump", "t", "--nope"]]) {
    const { code, stderr } = await run([NODE24, "scripts/kafka-tool.ts", ...args]);
    expect({ args, code }).toEqual({ args, code: 2 });
    expect(stderr).toContain("usage: scripts/kafka-tool.sh");
    expect(stderr).not.toContain("    at ");
  }
});

test("check-consistency: an unknown option is a usage error, not a stack trace", async () => {
  const { code, stderr } = await run([BUN, "scripts/check-consistency.ts", "--nope"]);
  expect(code).toBe(2);
  expect(stderr).toContain("usage: bun scripts/check-consistency.ts");
  expect(stderr).not.toContain("    at ");
});
