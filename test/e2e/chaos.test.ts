// The chaos suite in its reduced form: one cycle of each fault (CHAOS_CYCLES to change it) during
// a mixed workload over two api instances, the relay and two consumer groups. Passes when the
// consistency checker saw no regression and no entry left stale after the pipeline drained, no
// committed event is missing from the topic, every fault healed by itself, and nothing answered a
// 5xx other than 503 while PostgreSQL restarted. `bun scripts/chaos.ts` runs the full form.
import { expect, test } from "bun:test";
import { FAULTS, runChaos } from "../support/chaos.ts";

test("chaos: faults of every kind during a mixed workload leave every cache right", async () => {
  const cycles = Number(process.env.CHAOS_CYCLES ?? FAULTS.length);
  const r = await runChaos({ cycles, log: (line) => console.log(line) });
  expect(r.cycles.map((c) => c.fault)).toEqual(Array.from({ length: cycles }, (_, i) => FAULTS[i % FAULTS.length]!));
  expect({
    regressions: r.checker.namespaces.flatMap((n) => n.regressions),
    stale: r.checker.namespaces.flatMap((n) => n.stale),
    lost: r.lostEvents.slice(0, 10),
    unobserved: r.unobserved,
    crashed: r.crashedProcesses,
    writeErrors: r.writes.serverErrors.slice(0, 5),
    readErrors: r.reads.serverErrors.slice(0, 5),
  }).toEqual({ regressions: [], stale: [], lost: [], unobserved: 0, crashed: [], writeErrors: [], readErrors: [] });
  expect(r.checker.writes).toBeGreaterThan(100);
  expect(r.writes.ok).toBeGreaterThan(100);
  expect(r.checker.namespaces.every((n) => n.atEnd === 1)).toBe(true);
}, 600_000);
