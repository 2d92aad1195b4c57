// What one append costs the api's process, by the way it is sent: the former Prisma batch
// transaction (events, snapshot upsert, outbox rows, NOTIFY: six statements), the one
// catalog_append call through Prisma's $queryRawUnsafe, and the same call straight on the pg pool
// under the Prisma client (what the api does). Each case decides a PATCH on a snapshot read through
// Prisma (as the api does), from N concurrent loops, no HTTP, no Redis; it prints the rate and the
// CPU time this process spent per write (on two shared cores, CPU is what bounds the api).
//   bun bench/append-cost.ts [--seconds 5] [--concurrency 16] [--pool 10]
import { parseArgs } from "node:util";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { decide } from "../src/catalog/decide.ts";
import type { EventEnvelope, ProductEvent } from "../src/catalog/events.ts";
import type { ProductState } from "../src/catalog/product.ts";
import { APPEND_SQL, appendParams } from "../src/infra/append-sql.ts";
import { OUTBOX_CHANNEL } from "../src/infra/outbox-table.ts";
import { rowFromState, stateFromRow } from "../src/infra/prisma-event-store.ts";
import { PrismaClient, type Prisma } from "../src/generated/prisma/client.ts";
import { afterEvents } from "../src/usecases/outbox-envelopes.ts";
import { isolatedDatabase } from "../test/support/services.ts";
import { seedProducts, seededId } from "./lib/seed.ts";
import { machine, writeResult } from "./lib/stack.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, concurrency: { type: "string", default: "16" }, pool: { type: "string", default: "10" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log("bun bench/append-cost.ts [--seconds 5] [--concurrency 16] [--pool 10]: rate and api CPU per append, by the way it is sent");
  process.exit(0);
}
const PRODUCTS = 10_000;
const database = await isolatedDatabase("appendcost");
const pool = new pg.Pool({ connectionString: database.url, max: Number(values.pool) });
pool.on("error", () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
try {
  await seedProducts(database.url, PRODUCTS);
  let price = 0;
  const ctx = { now: () => new Date(), newId: () => crypto.randomUUID() };
  const refusedUnlessOk = (rows: { ok: boolean }[]) => {
    if (rows[0]?.ok !== true) throw new Error("version taken");
  };
  type Append = (events: ProductEvent[], next: ProductState, envelopes: EventEnvelope[]) => Promise<unknown>;
  const cases: [string, Append][] = [
    [
      "Prisma batch transaction (before)",
      (events, next, envelopes) =>
        prisma.$transaction([
          prisma.event.createMany({
            data: events.map((e) => ({ eventId: e.eventId, productId: e.productId, version: e.version, type: e.type, schemaVersion: e.schemaVersion, data: e.data as Prisma.InputJsonValue, occurredAt: new Date(e.occurredAt) })),
          }),
          prisma.productSnapshot.upsert({ where: { id: next.id }, create: { id: next.id, ...rowFromState(next) }, update: rowFromState(next) }),
          prisma.outboxMessage.createMany({ data: envelopes.map((e) => ({ eventId: e.eventId, productId: e.productId, version: e.version, payload: e as unknown as Prisma.InputJsonValue })) }),
          prisma.$executeRaw`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`,
        ]),
    ],
    [
      "catalog_append via $queryRawUnsafe",
      async (events, next, envelopes) => refusedUnlessOk(await prisma.$queryRawUnsafe<{ ok: boolean }[]>(APPEND_SQL, ...appendParams(events, next, envelopes))),
    ],
    [
      "catalog_append on pg (after)",
      async (events, next, envelopes) => refusedUnlessOk((await pool.query<{ ok: boolean }>({ name: "catalog_append", text: APPEND_SQL, values: appendParams(events, next, envelopes) })).rows),
    ],
  ];
  const rows: { how: string; writesPerSecond: number; cpuMsPerWrite: number; refused: number }[] = [];
  for (const [how, append] of cases) {
    let done = 0;
    let refused = 0; // two loops on one product: the second's version was taken (rare)
    const end = performance.now() + Number(values.seconds) * 1000;
    const cpu = process.cpuUsage();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: Number(values.concurrency) }, async () => {
        while (performance.now() < end) {
          const row = await prisma.productSnapshot.findUnique({ where: { id: seededId(1 + Math.floor(Math.random() * PRODUCTS)) } });
          const state = stateFromRow(row!);
          const events = decide({ type: "PatchProduct", id: state.id, changes: { priceCents: ++price } }, state, ctx);
          const { next, envelopes } = afterEvents(state, events);
          try {
            await append(events, next, envelopes);
            done++;
          } catch {
            refused++;
          }
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    rows.push({ how, writesPerSecond: Math.round(done / seconds), cpuMsPerWrite: Math.round((used.user + used.system) / done) / 1000, refused });
  }
  console.log(`\nappend cost: PATCH decided on a snapshot read through Prisma, ${values.concurrency} loops, pg pool of ${values.pool}, ${values.seconds} s each, ${new Date().toISOString()}, ${machine()}`);
  console.table(rows);
  console.log(`wrote ${writeResult("append-cost", { rows })}`);
} finally {
  await prisma.$disconnect();
  await pool.end();
  await database.drop();
}
process.exit(0);
