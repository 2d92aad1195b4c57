// The chaos suite in its reduced form: one cycle of each fault, single and compound (CHAOS_CYCLES
// to change it), during a mixed workload over two api instances, a reader of the storefront
// namespace, the relay and two consumer groups. Passes when the consistency checker saw no
// regression (in the keys or through HTTP) and no entry left stale after the pipeline drained, the
// relay sent every outbox row and every sent event is on the topic, every replay completed, every
// fault healed by itself, and nothing answered a 5xx other than 503 while PostgreSQL restarted.
// `bun scripts/chaos.ts` runs the full form.
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
    unsentRows: r.unsentRows,
    failedReplays: r.replays.failed,
    unobserved: r.unobserved,
    crashed: r.crashedProcesses,
    writeErrors: r.writes.serverErrors.slice(0, 5),
    readErrors: r.reads.serverErrors.slice(0, 5),
  }).toEqual({ regressions: [], stale: [], lost: [], unsentRows: 0, failedReplays: [], unobserved: 0, crashed: [], writeErrors: [], readErrors: [] });
  expect(r.replays.completed).toBeGreaterThan(0);
  expect(r.checker.namespaces.every((n) => n.httpReads > 0)).toBe(true);
  expect(r.checker.writes).toBeGreaterThan(100);
  expect(r.writes.ok).toBeGreaterThan(100);
  expect(r.checker.namespaces.every((n) => n.atEnd === 1)).toBe(true);
}, 600_000);
