// An isolated stack for a benchmark: its own database (migrated), its own Redis server, and the api
// as a real process; the results land in bench/results/ and the machine is described the same way
// in every benchmark.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { createPipeline } from "../../test/support/pipeline.ts";
import { startSpareRedis } from "../../test/support/spare-redis.ts";
import { seedProducts, seededId } from "./seed.ts";

export async function startStack(label: string) {
  const redisServer = await startSpareRedis({ persistent: false });
  const pipeline = await createPipeline(label, { redisUrl: redisServer.url }).catch(async (err) => {
    await redisServer.dispose(); // Kafka down, say: no server left behind
    throw err;
  });
  return {
    pipeline,
    redisServer,
    async close() {
      await pipeline.close();
      await redisServer.dispose();
    },
  };
}

/** Seeds `products`, starts the api, and reads every product once so all of them are cached. */
export async function startWarmApi(stack: Awaited<ReturnType<typeof startStack>>, products: number) {
  await seedProducts(stack.pipeline.databaseUrl, products);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  const paths = Array.from({ length: products }, (_, i) => `/products/${seededId(i + 1)}`);
  for (let i = 0; i < paths.length; i += 100) await Promise.all(paths.slice(i, i + 100).map((p) => fetch(api.url + p).then((r) => r.arrayBuffer())));
  return { api, paths };
}

export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
}

export function writeResult(name: string, data: object): string {
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...data }, null, 2));
  return file;
}

/** Sum of a Prometheus counter (all label sets) scraped from `url`. */
export async function counter(url: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const re = new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} ([0-9.e+-]+)$|^${name} ([0-9.e+-]+)$`, "gm");
  return [...text.matchAll(re)].reduce((s, m) => s + Number(m[1] ?? m[2]), 0);
}
