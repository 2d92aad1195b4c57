// The dead letters' re-drive as a relay carries it out (src/infra/redrive-requests.ts): it runs
// `scripts/kafka-tool.ts redrive` on this process's Node (the relay's Node 24) as a child process,
// with a deadline, killed when `signal` aborts (the relay stopping).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const TOOL = fileURLToPath(new URL("../../scripts/kafka-tool.ts", import.meta.url));
const DEADLINE_MS = 90_000;

export function redriveDeadLetters(opts: { brokers: readonly string[]; dlqTopic: string; group?: string | null; signal?: AbortSignal }): Promise<{ output: string }> {
  const args = [TOOL, "redrive", opts.dlqTopic, ...(opts.group ? [opts.group] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, KAFKA_BROKERS: opts.brokers.join(",") },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: DEADLINE_MS,
      killSignal: "SIGKILL",
      signal: opts.signal,
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.on("error", (err) => reject(new Error(err.name === "AbortError" ? "kafka-tool redrive was stopped: the relay is stopping" : `could not run kafka-tool redrive: ${err.message}`)));
    child.on("close", (code, signal) => {
      const text = output.trim();
      if (code === 0) resolve({ output: text });
      else reject(new Error(`kafka-tool redrive ${signal ? `was stopped (${signal}: the relay stopping, or past ${DEADLINE_MS / 1000} s)` : `exited with ${code}`}: ${text.split("\n").slice(-3).join(" ")}`));
    });
  });
}
