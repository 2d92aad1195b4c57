// wrk (Debian's package) as the load generator: runs it and reads its summary.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type WrkResult = { requestsPerSecond: number; p50: number; p90: number; p99: number; requests: number; non2xx: number };

const ms = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);

/** Runs wrk against `url` with an optional Lua script; latencies in ms. */
export async function wrk(url: string, opts: { seconds: number; connections: number; threads?: number; script?: string }): Promise<WrkResult> {
  const args = ["wrk", `-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, "--latency"];
  if (opts.script) {
    const file = join(mkdtempSync(join(tmpdir(), "wrk-")), "script.lua");
    writeFileSync(file, opts.script);
    args.push("-s", file);
  }
  args.push(url);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`wrk failed (${code}): ${err || out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([0-9.]+)(us|ms|s)`, "m").exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1]),
    p50: pct("50"),
    p90: pct("90"),
    p99: pct("99"),
    requests: Number(/(\d+) requests in/.exec(out)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

/** A Lua script for wrk that requests random paths from a list. */
export function randomPathsScript(paths: readonly string[]): string {
  return `local paths = {${paths.map((p) => JSON.stringify(p)).join(",")}}\nmath.randomseed(os.time())\nrequest = function()\n  return wrk.format("GET", paths[math.random(#paths)])\nend\n`;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * A wrk `setup` that spreads wrk's threads over several servers, round robin: thread i connects
 * to `urls[i % urls.length]` (so each connection stays on one server, and with as many threads as
 * servers each server gets the same number of connections). Prepend it to a request script; the
 * URL given to wrk itself then only supplies the Host header and the default path.
 */
export function spreadScript(urls: readonly string[]): string {
  const targets = urls.map((u) => {
    const { hostname, port } = new URL(u);
    return `{${JSON.stringify(hostname)}, ${JSON.stringify(port || "80")}}`;
  });
  return `local targets = {${targets.join(", ")}}
local threads = 0
function setup(thread)
  local t = targets[threads % #targets + 1]
  threads = threads + 1
  thread.addr = wrk.lookup(t[1], t[2])[1]
end
`;
}
