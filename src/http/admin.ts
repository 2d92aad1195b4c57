// Admin routes: start a replay, follow its progress. Behind the bearer-token guard.
import { Elysia } from "elysia";
import { CatalogError } from "../catalog/errors.ts";
import type { ReplayRunner } from "../usecases/replay-jobs.ts";
import { bearerGuard } from "./auth.ts";
import { parseJsonBody } from "./body.ts";
import { docs } from "./openapi-docs.ts";
import { JobParams, ReplayBody } from "./schemas.ts";

/** True for a request whose path is under /admin/ (without parsing the URL: this runs on every request). */
function isAdminPath(url: string): boolean {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash !== -1 && url.startsWith("/admin/", slash);
}

export function adminRoutes(deps: { runner: ReplayRunner; adminToken: string | null; bodyLimitBytes: number }) {
  const guard = bearerGuard(deps.adminToken);
  return new Elysia({ name: "admin" })
    // Authentication comes first, before the body is read, parsed or validated: an unauthenticated
    // request learns nothing about the contract and costs no parsing. (onRequest runs before routing.)
    .onRequest(({ request }) => {
      if (isAdminPath(request.url)) guard({ request });
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
        ),
    );
}

