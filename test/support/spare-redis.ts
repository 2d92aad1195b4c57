// A Redis server of the test's own, on a free port, that the test may stop and start again.
// Append-only persistence is on, so a restart brings the old (now stale) entries back, which is
// the hard case for healing.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import { waitFor } from "./services.ts";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `persistent: false` makes a restart start empty (a flush), like the machine's own Redis. */
export async function startSpareRedis({ persistent = true } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "cc-redis-"));
  let proc: ReturnType<typeof Bun.spawn> | null = null;

  async function start() {
    proc = Bun.spawn(
      ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", persistent ? "yes" : "no", "--appendfsync", "always", "--dir", dir],
      { stdout: "ignore", stderr: "inherit" },
    );
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {}); // refused until the server is up
    await waitFor(async () => probe.connect().then(() => probe.ping(), () => false), 10_000, `redis on ${port}`);
    probe.disconnect();
  }

  async function stop() {
    if (!proc) return;
    proc.kill("SIGTERM"); // redis saves the append-only file and exits
    await proc.exited;
    proc = null;
  }

  // A test or benchmark that dies (an uncaught error, process.exit) takes its server with it: an
  // orphaned redis-server would keep the port, and the caller's stderr pipe open.
  const orphaned = () => proc?.kill("SIGKILL");
  process.once("exit", orphaned);

  await start();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    start,
    stop,
    async dispose() {
      process.off("exit", orphaned);
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
