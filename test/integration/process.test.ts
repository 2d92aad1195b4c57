// The process helper (src/process.ts) as the api, the relay and the consumers use it, run for real
// on both runtimes: Bun and Node 24.
import { afterAll, describe, expect, test } from "bun:test";
import { BUN, NODE24, ROOT } from "../support/processes.ts";
import { waitFor } from "../support/services.ts";

const FIXTURE = "test/support/process-fixture.ts";
type Fixture = ReturnType<typeof Bun.spawn> & { stdin: import("bun").FileSink; output(): string; messages(): string[]; code(): Promise<number> };
const running: Fixture[] = [];
afterAll(() => running.forEach((p) => p.kill("SIGKILL")));

function start(runtime: string, env: Record<string, string> = {}): Fixture {
  let out = "";
  const proc = Bun.spawn([runtime, FIXTURE], { cwd: ROOT, env: { ...process.env, ...env }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  const p = Object.assign(proc, {
    output: () => out,
    /** The log lines' messages, in order. */
    messages: () => out.split("\n").filter((l) => l.startsWith("{")).map((l) => (JSON.parse(l) as { msg: string }).msg),
    /** The exit code, once all the output is in. */
    code: async () => (await Promise.all([proc.exited, pumped]))[0],
  });
  running.push(p);
  return p;
}
const startedOn = (p: Fixture) => waitFor(() => p.output().includes('"msg":"fixture started"'), 20_000, "the fixture to start");

describe.each([
  ["Bun", BUN],
  ["Node 24", NODE24],
])("on %s", (_, runtime) => {
  test("SIGTERM stops the process once: the stop runs to its end, then exit 0", async () => {
    const p = start(runtime);
    await startedOn(p);
    p.kill("SIGTERM");
    await waitFor(() => p.output().includes('"msg":"fixture draining"'), 10_000, "the drain to begin");
    expect(p.exitCode).toBeNull(); // the drain is waiting for us
    p.stdin.write("done\n");
    p.stdin.flush();
    expect(await p.code()).toBe(0);
    expect(p.messages()).toEqual(["fixture started", "fixture stopping: finishing its work", "fixture draining", "stopped"]);
  });

  test("SIGINT stops it the same way", async () => {
    const p = start(runtime);
    await startedOn(p);
    p.kill("SIGINT");
    await waitFor(() => p.output().includes('"msg":"fixture draining"'), 10_000, "the drain to begin");
    p.stdin.write("done\n");
    p.stdin.flush();
    expect(await p.code()).toBe(0);
    expect(p.output()).toContain('"signal":"SIGINT"');
  });

  test("a stop that misses its deadline is cut short: exit 1, with the reason", async () => {
    const p = start(runtime, { FIXTURE_STOP: "hang", FIXTURE_DEADLINE_MS: "300" });
    await startedOn(p);
    p.kill("SIGTERM");
    expect(await p.code()).toBe(1);
    expect(p.messages().at(-1)).toBe("the stop did not finish in time; exiting");
  });

  test("a second signal during the stop exits at once with 1", async () => {
    const p = start(runtime, { FIXTURE_STOP: "hang" });
    await startedOn(p);
    p.kill("SIGTERM");
    await waitFor(() => p.output().includes('"msg":"fixture draining"'), 10_000, "the drain to begin");
    p.kill("SIGTERM");
    expect(await p.code()).toBe(1);
    expect(p.messages().at(-1)).toBe("second signal while stopping: exiting without finishing");
  });

  test("a stop that throws: exit 1, the error logged", async () => {
    const p = start(runtime, { FIXTURE_STOP: "throw" });
    await startedOn(p);
    p.kill("SIGTERM");
    expect(await p.code()).toBe(1);
    expect(p.output()).toContain('"msg":"the stop failed"');
    expect(p.output()).toContain("the drain broke");
  });

  test("a bad configuration: exit 2 and the reason on stderr, nothing started", async () => {
    const p = start(runtime, { FIXTURE_DEADLINE_MS: "soon" });
    expect(await p.code()).toBe(2);
    expect(p.output()).toBe('configuration error: FIXTURE_DEADLINE_MS="soon" must be an integer from 1 to 60000\n');
  });

  test("a start that fails: exit 1, the error logged as fatal", async () => {
    const p = start(runtime, { FIXTURE_START: "throw" });
    expect(await p.code()).toBe(1);
    const last = JSON.parse(p.output().trim().split("\n").at(-1)!) as { level: number; msg: string; err: { message: string } };
    expect([last.level, last.msg, last.err.message]).toEqual([60, "the fixture could not start", "the broker is not there"]);
  });

  test("an unhandled rejection: exit 1, logged as fatal", async () => {
    const p = start(runtime, { FIXTURE_START: "reject-later" });
    expect(await p.code()).toBe(1);
    const last = JSON.parse(p.output().trim().split("\n").at(-1)!) as { level: number; msg: string; err: { message: string } };
    expect([last.level, last.msg, last.err.message]).toEqual([60, "unhandled rejection", "nobody caught this"]);
  });
});
