// Every error a client can cause has a stable code and an HTTP status. They are turned into
// responses in exactly one place (src/http/errors.ts).

export type ErrorCode =
  | "VALIDATION_FAILED"
  | "MALFORMED_JSON"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "VERSION_CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "CONFLICT_RETRY_EXHAUSTED"
  | "REPLAY_RUNNING"
  | "UNAVAILABLE"
  | "ROUTE_NOT_FOUND";

export class CatalogError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  constructor(code: ErrorCode, status: number, message: string, details?: unknown) {
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
