// Liveness does no I/O; readiness checks that PostgreSQL and Redis answer within a bound.
import { Elysia } from "elysia";
import { docs } from "./openapi-docs.ts";

type Check = () => Promise<void>;

async function probe(check: Check, timeoutMs: number): Promise<"ok" | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return "ok";
  } catch (err) {
    return (err as Error).message || "failed";
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(checks: Record<string, Check>, timeoutMs = 1000) {
  return new Elysia({ name: "health" })
    .get("/healthz", () => ({ status: "ok" }), { detail: docs.healthz })
    .get("/readyz", async ({ set }) => {
      const names = Object.keys(checks);
      const results = await Promise.all(names.map((n) => probe(checks[n]!, timeoutMs)));
      const detail = Object.fromEntries(names.map((n, i) => [n, results[i]]));
      const ready = results.every((r) => r === "ok");
      set.status = ready ? 200 : 503;
      return { status: ready ? "ready" : "unavailable", checks: detail };
    }, { detail: docs.readyz });
}
