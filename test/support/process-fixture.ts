// A process run by src/process.ts, for test/integration/process.test.ts, on Bun and on Node 24.
// FIXTURE_STOP: "ok" (the stop resolves when told on stdin), "hang" (it never does), "throw".
// FIXTURE_START: "ok", "throw" (the start fails), "reject-later" (an unhandled rejection after start).
import { int } from "../../src/config.ts";
import { runProcess } from "../../src/process.ts";

await runProcess({
  usage: "usage: bun test/support/process-fixture.ts (a test fixture)",
  name: "fixture",
  loadConfig: (env = process.env) => ({ logLevel: "info", deadline: int(env, "FIXTURE_DEADLINE_MS", 10_000, 1, 60_000) }),
  stopDeadlineMs: Number(process.env.FIXTURE_DEADLINE_MS ?? 10_000),
  async start(_config, logger) {
    if (process.env.FIXTURE_START === "throw") throw new Error("the broker is not there");
    if (process.env.FIXTURE_START === "reject-later") setTimeout(() => void Promise.reject(new Error("nobody caught this")), 10);
    const keepAlive = setInterval(() => {}, 1000);
    logger.info("fixture started");
    return {
      stopping: "finishing its work",
      async stop() {
        logger.info("fixture draining");
        if (process.env.FIXTURE_STOP === "throw") throw new Error("the drain broke");
        if (process.env.FIXTURE_STOP === "hang") return new Promise<void>(() => {});
        // The drain ends when the test says so, so the test can see it wait.
        await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
        clearInterval(keepAlive);
      },
    };
  },
});
