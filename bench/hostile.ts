// The api under hostile bodies: /healthz latency while 20 senders post the nastiest bodies within
// the size limit (deep nesting, wide arrays, many keys, escapes, lone surrogates; see
// test/support/nasty-bodies.ts) for `--seconds`, against the same with no such load, and the
// latency of the refusals themselves. Its own database and Redis; the api as a process, with
// NODE_ENV=production as the image sets it.
//   bun bench/hostile.ts [--seconds 10] [--senders 20]
import "../scripts/lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { parseArgs } from "node:util";
import { quantile } from "../test/support/pipeline.ts";
import { NASTY } from "../test/support/nasty-bodies.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" }, senders: { type: "string", default: "20" } } });
const seconds = Number(values.seconds);
const TOKEN = "bench-admin-token-0123456789";

const stack = await startStack("hostile");
try {
  const api = await stack.pipeline.startApi({ ADMIN_TOKEN: TOKEN, NODE_ENV: "production", APP_ENV: "production" });
  const id = `${stack.pipeline.prefix}-p`;
  await fetch(`${api.url}/products`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, name: "Pot", priceCents: 1, currency: "EUR" }) });

  async function healthWhile(load: boolean) {
    const health: number[] = [];
    const refusals: number[] = [];
    const wrong: string[] = [];
    const until = performance.now() + seconds * 1000;
    const senders = load
      ? Array.from({ length: Number(values.senders) }, async (_, s) => {
          for (let i = s; performance.now() < until; i++) {
            const n = NASTY[i % NASTY.length]!;
            const t0 = performance.now();
            const res = await fetch(`${api.url}${n.path(id)}`, { method: n.method, headers: { "content-type": "application/json", ...(n.admin ? { authorization: `Bearer ${TOKEN}` } : {}) }, body: n.body });
            await res.arrayBuffer();
            refusals.push(performance.now() - t0);
            if (res.status !== n.status) wrong.push(`${n.label}: ${res.status}`);
          }
        })
      : [];
    while (performance.now() < until) {
      const t0 = performance.now();
      await (await fetch(`${api.url}/healthz`)).arrayBuffer();
      health.push(performance.now() - t0);
      await Bun.sleep(5);
    }
    await Promise.all(senders);
    health.sort((a, b) => a - b);
    refusals.sort((a, b) => a - b);
    const ms = (x: number) => Math.round(x * 100) / 100;
    return {
      load: load ? `${values.senders} senders of nasty bodies` : "none",
      healthz: { n: health.length, p50: ms(quantile(health, 0.5)), p99: ms(quantile(health, 0.99)), max: ms(health.at(-1) ?? 0) },
      refusals: load ? { n: refusals.length, perSecond: Math.round(refusals.length / seconds), p50: ms(quantile(refusals, 0.5)), p99: ms(quantile(refusals, 0.99)), max: ms(refusals.at(-1) ?? 0) } : null,
      wrongStatus: wrong.slice(0, 5),
    };
  }
  const rows = [await healthWhile(false), await healthWhile(true), await healthWhile(false)];
  console.log(`hostile bodies, ${seconds} s per row, ${new Date().toISOString()}, ${machine()}`);
  console.table(rows.map((r) => ({ load: r.load, "healthz p50": r.healthz.p50, "healthz p99": r.healthz.p99, "healthz max": r.healthz.max, refusals: r.refusals?.n ?? "", "refusals/s": r.refusals?.perSecond ?? "", "refusal p50": r.refusals?.p50 ?? "", "refusal p99": r.refusals?.p99 ?? "", wrong: r.wrongStatus.length })));
  console.log(`wrote ${writeResult("hostile", { seconds, rows })}`);
} finally {
  await stack.close();
}
