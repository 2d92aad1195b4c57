// The request body parser for every command: JSON only, bounded in size and in nesting, malformed
// JSON refused, and text that PostgreSQL's jsonb, Redis or Kafka headers cannot hold (a lone UTF-16
// surrogate, NUL) refused with its path. Every check is one linear pass, so a hostile body costs
// time in proportion to its size, which BODY_LIMIT_BYTES bounds.
import { CatalogError, validationFailed } from "../catalog/errors.ts";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

/** Deeper than any body of the contract (3 levels) by far; deep enough for any honest client. */
export const MAX_DEPTH = 32;

/**
 * The nesting depth of a JSON text, or Infinity as soon as it passes `max`: one pass that skips
 * strings (and their escapes), so `"[[["` inside a string does not count.
 */
export function jsonDepth(text: string, max = MAX_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > deepest) deepest = depth;
      if (deepest > max) return Infinity;
    } else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

/**
 * The first string (or key) that the stores cannot hold, as a JSON pointer and a reason; null when
 * every one is fine. Iterative, so no input can exhaust the stack.
 */
export function unstorableText(value: unknown): { path: string; message: string } | null {
  const problem = (s: string) =>
    !s.isWellFormed() ? "contains a lone UTF-16 surrogate (not valid Unicode)" : s.includes("\u0000") ? "contains the NUL character (U+0000)" : null;
  const escape = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");
  // Each entry: a value, its parent's pointer and its key there. A pointer is built only for a
  // container (its children need it) or a string found wrong; numbers and the like are not pushed:
  // a 60 KB array of numbers costs one pass, not a string and an entry per element.
  const stack: [unknown, string, string | null][] = [[value, "", null]]; // the root has no key
  while (stack.length) {
    const [v, parent, key] = stack.pop()!;
    if (typeof v === "string") {
      const message = problem(v);
      if (message) return { path: key === null ? "/" : `${parent}/${key}`, message };
      continue;
    }
    const path = key === null ? "" : `${parent}/${key}`;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const c = v[i];
        if (typeof c === "string" || (c !== null && typeof c === "object")) stack.push([c, path, String(i)]);
      }
    } else if (v !== null && typeof v === "object") {
      for (const [k, c] of Object.entries(v)) {
        const message = problem(k);
        if (message) return { path: `${path}/${escape(k)}`, message: `a key ${message}` };
        if (typeof c === "string" || (c !== null && typeof c === "object")) stack.push([c, path, escape(k)]);
      }
    }
  }
  return null;
}

/** `optional`: an absent or empty body reads as `{}` (for commands whose every field is optional). */
export function parseJsonBody(limitBytes: number, { optional = false } = {}) {
  const tooLarge = () => new CatalogError("PAYLOAD_TOO_LARGE", 413, `the body is larger than ${limitBytes} bytes`, { limitBytes });
  return async ({ request }: { request: Request }): Promise<unknown> => {
    const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (Number(request.headers.get("content-length") ?? "0") > limitBytes) throw tooLarge();
    const bytes = await request.arrayBuffer(); // a chunked body has no declared length: check again
    if (bytes.byteLength > limitBytes) throw tooLarge();
    if (optional && bytes.byteLength === 0) return {};
    if (!JSON_TYPE.test(type)) {
      const received = type.slice(0, 100);
      const sent = received ? `it was sent as ${JSON.stringify(received)}` : "it was sent without a Content-Type";
      throw new CatalogError("UNSUPPORTED_MEDIA_TYPE", 415, `the body must be JSON (Content-Type: application/json); ${sent}`, { received: received || null });
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new CatalogError("MALFORMED_JSON", 400, "the body is not valid UTF-8");
    }
    if (text.trim() === "") {
      if (optional) return {};
      const message = "the body is required: a JSON object";
      throw new CatalogError("VALIDATION_FAILED", 400, message, [{ path: "/", message }]);
    }
    if (jsonDepth(text) > MAX_DEPTH) {
      const message = `the body must be nested at most ${MAX_DEPTH} levels deep`;
      throw validationFailed(message, [{ path: "/", message }]);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CatalogError("MALFORMED_JSON", 400, `the body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
    }
    const bad = unstorableText(parsed);
    if (bad) {
      const message = `the text at ${bad.path} ${bad.message}`;
      throw validationFailed(message, [{ path: bad.path, message }]);
    }
    return cheapToPrint(parsed);
  };
}

/**
 * The parsed body, serialized by JSON.stringify as a short placeholder. Elysia's ValidationError
 * writes the whole body into its message, pretty-printed (`JSON.stringify(…, null, 2)`), when the
 * body breaks the route's schema; nothing reads that message (errors.ts answers from the issues),
 * yet for a 60 KB array 31 levels deep it cost 20-70 ms of CPU per request. The `toJSON` is on the
 * value's prototype, not the value (an own property, even hidden, is a field to the schema's
 * "no unknown fields"); the body's own fields are untouched, and no route stores or logs the body
 * as a whole.
 */
export function cheapToPrint<T>(value: T): T {
  if (value !== null && typeof value === "object") Object.setPrototypeOf(value, Array.isArray(value) ? PRINTS_SHORT_ARRAY : PRINTS_SHORT_OBJECT);
  return value;
}
const placeholder = { value: () => "(the request body)", enumerable: false };
const PRINTS_SHORT_OBJECT = Object.create(Object.prototype, { toJSON: placeholder });
const PRINTS_SHORT_ARRAY = Object.create(Array.prototype, { toJSON: placeholder });
