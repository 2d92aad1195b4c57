// CPU accounting for benchmarks on a shared machine: how busy all cores were over an interval
// (/proc/stat) and how much CPU given processes used (/proc/<pid>/stat), so a table can say
// whether a configuration was bound by the cores rather than by the code.
import { readFileSync } from "node:fs";

const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** Total and idle jiffies of all cores (the first line of /proc/stat). */
function machineTicks(): { total: number; idle: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already counted in user)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: f[3]! + f[4]! };
}

/** CPU seconds a process has used so far (user + system); 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (14th and 15th)
  } catch {
    return 0;
  }
}

/**
 * Starts measuring; `stop()` returns the share of all cores that was busy (0-1) and, per named
 * process, the cores it used on average over the interval (1.0 = one core all the time).
 */
export function cpuMeter(pids: Record<string, number> = {}) {
  const t0 = performance.now();
  const m0 = machineTicks();
  const p0 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      const m1 = machineTicks();
      const total = m1.total - m0.total;
      const busy = total > 0 ? 1 - (m1.idle - m0.idle) / total : NaN;
      const cores = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, (processCpuSeconds(pid) - p0[name]!) / seconds]));
      return { busy, cores };
    },
  };
}
