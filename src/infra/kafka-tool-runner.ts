// The api runs on Bun, where the Kafka client does not: the dead letters' re-drive runs
// `scripts/kafka-tool.ts redrive` on Node 24 (NODE_BIN) as a child process, with a deadline.
import { fileURLToPath } from "node:url";

const TOOL = fileURLToPath(new URL("../../scripts/kafka-tool.ts", import.meta.url));
const DEADLINE_MS = 90_000;

export async function redriveDeadLetters(opts: { nodeBin: string; brokers: readonly string[]; dlqTopic: string; group?: string }): Promise<{ output: string }> {
  const args = [opts.nodeBin, TOOL, "redrive", opts.dlqTopic, ...(opts.group ? [opts.group] : [])];
  let child: ReturnType<typeof Bun.spawn>;
  try {
    child = Bun.spawn(args, { env: { ...process.env, KAFKA_BROKERS: opts.brokers.join(",") }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  } catch (err) {
    throw new Error(`could not run ${opts.nodeBin} (NODE_BIN): ${(err as Error).message}`);
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout as ReadableStream).text(), new Response(child.stderr as ReadableStream).text(), child.exited]);
    const output = `${stdout}${stderr}`.trim();
    if (code !== 0) throw new Error(`kafka-tool redrive exited with ${code}: ${output.split("\n").slice(-3).join(" ")}`);
    return { output };
  } finally {
    clearTimeout(timer);
  }
}
