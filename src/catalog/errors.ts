// Every error the api answers has a stable code and an HTTP status, in ONE table: the type of the
// codes, the statuses, the OpenAPI document (src/http/openapi-docs.ts) and docs/HTTP.md's error
// table all come from it (test/integration/openapi-contract.test.ts holds docs/HTTP.md to it). Errors are
// turned into responses in exactly one place (src/http/errors.ts).

/** code → HTTP status and a one-line meaning (the "when" of docs/HTTP.md's error table). */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, meaning: "a field, id, query or header breaks the contract (`details` lists the paths)" },
  MALFORMED_JSON: { status: 400, meaning: "the body is not JSON or not UTF-8" },
  UNAUTHORIZED: { status: 401, meaning: "an admin route (any path under `/admin/`) without the right bearer token or a valid console session" },
  FORBIDDEN_ORIGIN: { status: 403, meaning: "a console session's state-changing request whose Origin header is not this api's" },
  NOT_FOUND: { status: 404, meaning: "unknown or deleted product, or unknown replay job" },
  ROUTE_NOT_FOUND: { status: 404, meaning: "no such route (or no such method on it)" },
  ALREADY_EXISTS: { status: 409, meaning: "create of an existing id (`details.currentVersion`)" },
  CONFLICT_RETRY_EXHAUSTED: { status: 409, meaning: "eight writers from other instances won the same version in a row; retry" },
  REPLAY_RUNNING: { status: 409, meaning: "a full replay of the namespace is running (`details.jobId`)" },
  VERSION_CONFLICT: { status: 412, meaning: "`If-Match` (or a PUT body's `version`) names another version (`details.currentVersion`)" },
  VERSION_NOT_REACHED: { status: 412, meaning: "`?minVersion=N` above the version PostgreSQL holds (`details.currentVersion`, and its `ETag`): the write is not committed (yet)" },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: "body over `BODY_LIMIT_BYTES`" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: "a body that is not `application/json`" },
  INTERNAL: { status: 500, meaning: "a fault of the api itself (logged with the request); not the client's doing" },
  UNAVAILABLE: {
    status: 503,
    meaning: "PostgreSQL cannot be reached, or refuses the configured database (none of that name, wrong credentials), or, for an admin route, Redis cannot be reached (with `Retry-After: 1`); the client may retry",
  },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The HTTP status of a code, as a literal type: `StatusOf<"NOT_FOUND">` is 404. */
export type StatusOf<C extends ErrorCode> = (typeof ERROR_CODES)[C]["status"];

export const errorCodes = Object.keys(ERROR_CODES) as ErrorCode[];
export const statusOf = <C extends ErrorCode>(code: C): StatusOf<C> => ERROR_CODES[code].status;

/** An error a client can cause. The status must be the table's for the code (checked by the compiler). */
export class CatalogError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly status: StatusOf<C>;
  readonly details?: unknown;
  constructor(code: C, status: StatusOf<C>, message: string, details?: unknown) {
    super(message);
    this.name = "CatalogError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export const validationFailed = (message: string, details?: unknown) =>
  new CatalogError("VALIDATION_FAILED", 400, message, details);
export const notFound = (id: string) =>
  new CatalogError("NOT_FOUND", 404, `product ${id} not found`);
export const alreadyExists = (id: string, version: number) =>
  new CatalogError("ALREADY_EXISTS", 409, `product ${id} already exists`, { currentVersion: version });
export const versionConflict = (id: string, expected: number, current: number) =>
  new CatalogError("VERSION_CONFLICT", 412, `product ${id} is at version ${current}, not ${expected}`, {
    expectedVersion: expected,
    currentVersion: current,
  });
export const versionNotReached = (id: string, minVersion: number, current: number) =>
  new CatalogError("VERSION_NOT_REACHED", 412, `product ${id} is at version ${current}, below minVersion ${minVersion}`, { currentVersion: current });
