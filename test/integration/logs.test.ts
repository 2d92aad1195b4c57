// scripts/logs.ts (`bun run logs`, issue 14 item 8): the processes' pino logs pretty-printed by
// pino-pretty, merged in time order, filtered by level and name, followed with -f.
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT } from "../support/processes.ts";
import { waitFor } from "../support/services.ts";

const dir = mkdtempSync(join(tmpdir(), "logs-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T = Date.parse("2026-11-29T10:00:00.000Z");
const line = (o: Record<string, unknown>) => JSON.stringify({ pid: 1, hostname: "vm", service: "catalog-cache", ...o }) + "\n";
writeFileSync(join(dir, "api.log"), line({ level: 30, time: T, process: "api", msg: "api listening", port: 3000 }) + line({ level: 50, time: T + 300, process: "api", msg: "unhandled error" }) + "Error: a line that is not JSON\n");
// The processes write ISO times (src/infra/logger.ts); older logs epoch milliseconds: both merge in order.
writeFileSync(join(dir, "consumer-catalog.log"), line({ level: 40, time: new Date(T + 100).toISOString(), process: "consumer", namespace: "catalog", msg: "kafka broker connection lost", cause: "Error: all broker connections are down" }) + line({ level: 20, time: new Date(T + 200).toISOString(), process: "consumer", namespace: "catalog", msg: "a debug line" }));

async function logs(...args: string[]) {
  const proc = Bun.spawn([BUN, "scripts/logs.ts", "--dir", dir, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

test("every log, merged in time order, with UTC times, level names, the process and the other fields", async () => {
  const { code, stdout } = await logs();
  expect(code).toBe(0);
  const heads = stdout.split("\n").filter((l) => l.startsWith("["));
  expect(heads).toEqual([
    "[2026-11-29 10:00:00.000Z] INFO: [api] api listening",
    "[2026-11-29 10:00:00.100Z] WARN: [consumer catalog] kafka broker connection lost",
    "[2026-11-29 10:00:00.200Z] DEBUG: [consumer catalog] a debug line",
    "[2026-11-29 10:00:00.300Z] ERROR: [api] unhandled error",
  ]);
  expect(stdout).toContain('    cause: "Error: all broker connections are down"');
  expect(stdout).toContain("    port: 3000");
  expect(stdout).toContain("api: Error: a line that is not JSON"); // as it is, after its log's name
  expect(stdout).not.toContain('"hostname"');
});

test("--level and names choose the lines; an unknown name or level is an error", async () => {
  const warn = await logs("--level", "warn");
  expect(warn.stdout.split("\n").filter((l) => l.startsWith("[")).map((l) => l.split("] ")[1])).toEqual(["WARN: [consumer catalog", "ERROR: [api"]);
  const api = await logs("api", "-n", "1");
  expect(api.stdout).toBe("api: Error: a line that is not JSON\n");
  const unknown = await logs("relay");
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain("no relay.log");
  expect((await logs("--level", "loud")).code).toBe(2);
});

test("-f follows: a line written later is shown", async () => {
  const proc = Bun.spawn([BUN, "scripts/logs.ts", "--dir", dir, "-f", "-n", "0", "api"], { cwd: ROOT, stdout: "pipe", stderr: "ignore", stdin: "ignore" });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  try {
    // tail -F may start after the first append: append until one shows.
    await waitFor(
      async () => {
        appendFileSync(join(dir, "api.log"), line({ level: 30, time: Date.now(), process: "api", msg: "written later" }));
        return out.includes("INFO: [api] written later");
      },
      10_000,
      "the appended line",
    );
  } finally {
    proc.kill();
  }
});
