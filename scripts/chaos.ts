// The chaos suite in full: `bun scripts/chaos.ts [--cycles 40] [--between 2] [--cluster] [--l1 all]` (after
// scripts/setup.sh).
// By default (one Kafka broker, one Redis server of its own, two apis, one relay, one consumer per
// group): kills and restarts the relay, a consumer and an api process, restarts the broker, restarts
// (and so flushes) Redis and restarts PostgreSQL, and the compound faults (Redis flushed while a
// consumer has a backlog; Kafka then Redis restarted; replays on a hot product; Redis commands
// timing out, then the keys expiring; the relay's session terminated), in turn, during a mixed
// workload, with the consistency checker watching. Prints each cycle and the report; exit code 1
// on any violation.
// --cluster: the cluster topology. A three-node Kafka cluster (scripts/kafka-cluster.sh on
// 19092-19097) and a Redis Cluster of three masters and three replicas (scripts/redis-cluster.sh on
// 7100-7105), both started for the run and stopped at its end; two apis, a relay and a standby,
// two consumers per group. Its faults: the leading relay, one consumer of a group and an api killed
// and restarted; the Kafka node leading the most partitions killed (kill -9) until the others took
// over, then started again; a Redis master killed until its replica took over, then started again
// (it rejoins as a replica); PostgreSQL restarted; every Redis master flushed while a consumer
// group has a backlog; a Kafka node then a Redis master killed; replays on a hot product; every
// master pausing its clients, then the keys expiring; the relays' sessions terminated.
// Both topologies also kill every change-feed (pub/sub) connection again and again for 2 s: the
// near caches' bus fails while writes go on.
// --l1 first|all|none: which apis run the near cache (L1, with its read barrier). "first" (the
// default): the first api and the storefront-namespace reader, so the checker's reads alternate
// between an api with L1 and one without; "all": both apis too.
// It restarts the machine's PostgreSQL: run it where nothing else needs that server meanwhile.
import { parseArgs } from "node:util";
import { runChaos } from "../test/support/chaos.ts";

const { values } = parseArgs({
  options: {
    cycles: { type: "string", default: "40" },
    between: { type: "string", default: "2" },
    cluster: { type: "boolean", default: false },
    l1: { type: "string", default: "first" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  const header = (await Bun.file(import.meta.path).text()).split("\n").filter((l) => l.startsWith("// ") || l === "//");
  console.log(header.map((l) => l.slice(3)).join("\n"));
  process.exit(0);
}
const started = performance.now();
if (!["first", "all", "none"].includes(values.l1!)) {
  console.error(`--l1 must be first, all or none (got ${values.l1})`);
  process.exit(2);
}
const r = await runChaos({ cycles: Number(values.cycles), secondsBetween: Number(values.between), cluster: values.cluster, l1: values.l1 as "first" | "all" | "none", log: (l) => console.log(l) });
const violations = {
  regressions: r.checker.namespaces.reduce((n, x) => n + x.regressions.length, 0),
  stale: r.checker.namespaces.reduce((n, x) => n + x.stale.length, 0),
  lostEvents: r.lostEvents.length,
  unsentRows: r.unsentRows,
  failedReplays: r.replays.failed.length,
  unobserved: r.unobserved,
  crashedProcesses: r.crashedProcesses,
  serverErrors: r.writes.serverErrors.length + r.reads.serverErrors.length,
};
console.log(
  JSON.stringify(
    {
      topology: values.cluster ? "cluster" : "single",
      seconds: Math.round((performance.now() - started) / 1000),
      cycles: r.cycles.length,
      healedMs: Object.fromEntries(r.cycles.map((c, i) => [`${i + 1}:${c.fault}`, c.healedMs])),
      writes: { ...r.writes, serverErrors: r.writes.serverErrors.length },
      reads: { ...r.reads, serverErrors: r.reads.serverErrors.length },
      replays: { ...r.replays, failed: r.replays.failed.length },
      consistency: r.checker.namespaces.map(({ regressions, stale, weakened, ...n }) => ({ ...n, regressions: regressions.length, stale: stale.length, weakened: weakened.length })),
      violations,
    },
    null,
    2,
  ),
);
const ok =
  violations.regressions + violations.stale + violations.lostEvents + violations.unsentRows + violations.failedReplays + violations.unobserved + violations.serverErrors === 0 &&
  violations.crashedProcesses.length === 0;
process.exit(ok ? 0 : 1);
