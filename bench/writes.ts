// Writes per second with their latency: wrk sends PATCH /products/:id with a new price to random
// products among 10,000 (closed loop), with the default configuration (write-through on).
//   bun bench/writes.ts [--seconds 15] [--connections 16]
import { parseArgs } from "node:util";
import { seedProducts } from "./lib/seed.ts";
import { machine, startStack, writeResult } from "./lib/stack.ts";
import { wrk } from "./lib/wrk.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "15" }, connections: { type: "string", default: "16" } } });
const PRODUCTS = 10_000;
const stack = await startStack("writes");
try {
  await seedProducts(stack.pipeline.databaseUrl, PRODUCTS);
  const api = await stack.pipeline.startApi({ CACHE_WRITE_THROUGH: "true" });
  const script = `math.randomseed(os.time())
local n = 0
request = function()
  n = n + 1
  local id = string.format("p%07d", math.random(${PRODUCTS}))
  return wrk.format("PATCH", "/products/" .. id, { ["Content-Type"] = "application/json" }, '{"priceCents":' .. n .. '}')
end
`;
  const r = await wrk(api.url, { seconds: Number(values.seconds), connections: Number(values.connections), script });
  const summary = { writesPerSecond: Math.round(r.requestsPerSecond), p50ms: r.p50, p90ms: r.p90, p99ms: r.p99, requests: r.requests, non2xx: r.non2xx };
  console.log(`\nwrites: PATCH on ${PRODUCTS} products, ${values.connections} connections, ${values.seconds} s, ${new Date().toISOString()}, ${machine()}`);
  console.table([summary]);
  if (r.non2xx) throw new Error(`${r.non2xx} writes were not 2xx`);
  console.log(`wrote ${writeResult("writes", { summary })}`);
} finally {
  await stack.close();
}
process.exit(0);
