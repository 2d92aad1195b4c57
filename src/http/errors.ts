// The one place where errors become HTTP responses: `{"error": {"code", "message", "details"?}}`.
import type { Logger } from "pino";
import { CatalogError, statusOf, type ErrorCode } from "../catalog/errors.ts";
import { ServiceUnavailableError } from "../usecases/ports.ts";
import { plainIssues, type ValueIssue } from "./validation-messages.ts";

/** The response of one code of the table (src/catalog/errors.ts), with the table's status. */
export function errorResponse(code: ErrorCode, message: string, details?: unknown): Response {
  const body = details === undefined ? { code, message } : { code, message, details };
  return Response.json({ error: body }, { status: statusOf(code) });
}

type ElysiaErrorContext = { code: unknown; error: unknown; request: Request; set: { status?: number | string } };

export function mapError(logger: Logger) {
  const map = mapErrorToResponse(logger);
  // Destructured, not `(ctx) =>`: Elysia infers from each hook's parameters what to prepare for
  // every request, and a hook taking the whole context makes every route parse cookies, headers
  // and query, and rebuild each Response it returns.
  return ({ code, error, request, set }: ElysiaErrorContext): Response => {
    const res = map({ code, error, request } as ElysiaErrorContext);
    set.status = res.status; // so the request metrics see the status of error responses too
    return res;
  };
}

/**
 * For a handler that returns a promise without being async (so that its synchronous answers stay
 * synchronous): the framework catches only what such a handler throws, not what its promise
 * rejects with, so the promise's failure is mapped here, by the same rules.
 */
export function rejectionToResponse(logger: Logger, request: Request): (error: unknown) => Response {
  const map = mapErrorToResponse(logger);
  return (error) => map({ code: "UNKNOWN", error, request, set: {} });
}

function mapErrorToResponse(logger: Logger) {
  return ({ code, error, request }: ElysiaErrorContext): Response => {
    // Elysia wraps whatever a body parser throws in a ParseError; ours are CatalogErrors.
    if (code === "PARSE" && (error as Error).cause instanceof CatalogError) error = (error as Error).cause;
    if (error instanceof CatalogError) return errorResponse(error.code, error.message, error.details);
    if (error instanceof ServiceUnavailableError) {
      logger.warn({ dependency: error.dependency, err: (error.cause as Error)?.message }, "dependency unavailable");
      const res = errorResponse("UNAVAILABLE", `${error.dependency} is unavailable; retry shortly`);
      res.headers.set("retry-after", "1");
      return res;
    }
    switch (code) {
      case "VALIDATION": {
        // One entry per path, in words (src/http/validation-messages.ts); the message is the first,
        // so a client that shows only the message still shows what to fix.
        const { all = [], type = "body" } = error as { all?: ValueIssue[]; type?: string };
        const details = plainIssues(all, type);
        const first = details[0]?.message ?? "the request does not match the contract";
        const message = details.length > 1 ? `${first} (and ${details.length - 1} more in details)` : first;
        return errorResponse("VALIDATION_FAILED", message, details);
      }
      case "PARSE":
        return errorResponse("MALFORMED_JSON", "the body is not valid JSON");
      case "NOT_FOUND":
        return errorResponse("ROUTE_NOT_FOUND", `no route for ${request.method} ${new URL(request.url).pathname}`);
      case "INVALID_COOKIE_SIGNATURE":
      case "INVALID_FILE_TYPE":
        return errorResponse("VALIDATION_FAILED", String((error as Error).message));
      default: {
        // Any other error that says it is the client's (a 4xx status) is a request breaking the
        // contract; every code answered is one of the table's, so the document can list it.
        const status = (error as { status?: unknown }).status;
        if (typeof status === "number" && status >= 400 && status < 500) {
          return errorResponse("VALIDATION_FAILED", String((error as Error).message ?? "bad request"));
        }
        logger.error({ err: error, method: request.method, url: request.url }, "unhandled error");
        return errorResponse("INTERNAL", "internal error");
      }
    }
  };
}
