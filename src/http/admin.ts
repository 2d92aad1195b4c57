// Admin routes: start a replay, follow its progress, list recent jobs; the operator's views and the
// console (operator.ts, console.ts). Behind the guard: the bearer token, or a console session.
import { Elysia, t } from "elysia";
import type { Logger } from "pino";
import { CatalogError } from "../catalog/errors.ts";
import type { ReplayRunner } from "../usecases/replay-jobs.ts";
import { adminGuard, createSessions } from "./auth.ts";
import { parseJsonBody } from "./body.ts";
import { CONSOLE_OPEN_PATHS, consoleRoutes } from "./console.ts";
import { docs } from "./openapi-docs.ts";
import { operatorDocs } from "./operator-docs.ts";
import { operatorRoutes, type OperatorDeps } from "./operator.ts";
import { JobParams, ReplayBody } from "./schemas.ts";

/** True for a request whose path is under /admin/ (without parsing the URL: this runs on every request). */
function isAdminPath(url: string): boolean {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash !== -1 && url.startsWith("/admin/", slash);
}

/** The path of an /admin/ URL (only called for those). */
const pathOf = (url: string) => {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  return url.slice(start, query === -1 ? undefined : query);
};

export type AdminDeps = {
  runner: ReplayRunner;
  adminToken: string | null;
  bodyLimitBytes: number;
  logger: Logger;
  /** The api's namespace: the console's default for a replay. */
  namespace: string;
  /** The operator's views and the console; absent: only the replay routes. */
  operator?: Omit<OperatorDeps, "logger">;
  sessionTtlMs?: number;
};

export function adminRoutes(deps: AdminDeps) {
  const sessions = deps.adminToken === null ? null : createSessions(deps.adminToken, deps.sessionTtlMs ?? 8 * 3600_000);
  const guard = adminGuard(deps.adminToken, sessions);
  const app = new Elysia({ name: "admin" })
    // Authentication comes first, before the body is read, parsed or validated: an unauthenticated
    // request learns nothing about the contract and costs no parsing. (onRequest runs before routing.)
    // The console's page (its login form), its assets, login and logout are open.
    .onRequest(({ request }) => {
      if (isAdminPath(request.url) && !CONSOLE_OPEN_PATHS.has(pathOf(request.url))) guard({ request });
    })
    .parser("jsonOptional", parseJsonBody(deps.bodyLimitBytes, { optional: true }))
    .guard({ beforeHandle: guard }, (app) =>
      app
        .post(
          "/admin/replay",
          async ({ body, set }) => {
            const { job } = await deps.runner.start(body);
            set.status = 202;
            set.headers.location = `/admin/replay/${job.jobId}`;
            return { jobId: job.jobId, status: job.status, scope: job.scope, namespace: job.namespace };
          },
          { body: ReplayBody, parse: ["jsonOptional", "json"], detail: docs.replayStart },
        )
        .get(
          "/admin/replay/:jobId",
          async ({ params }) => {
            const job = await deps.runner.get(params.jobId);
            if (!job) throw new CatalogError("NOT_FOUND", 404, `replay job ${params.jobId} not found`);
            return job;
          },
          { params: JobParams, detail: docs.replayStatus },
        )
        .get(
          "/admin/replay",
          async ({ query }) => ({ jobs: await deps.runner.recent(query.limit ? Number(query.limit) : 20) }),
          {
            query: t.Object({ limit: t.Optional(t.String({ pattern: "^([1-9][0-9]?|1[0-9][0-9]|200)$", description: "1 to 200 (default 20)" })) }),
            detail: operatorDocs.replayList,
          },
        ),
    );
  if (!deps.operator) return app;
  return app
    .use(operatorRoutes({ ...deps.operator, logger: deps.logger }))
    .use(consoleRoutes({ logger: deps.logger, adminToken: deps.adminToken, sessions, namespace: deps.namespace, bodyLimitBytes: deps.bodyLimitBytes }));
}

