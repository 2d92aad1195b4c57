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
  const check = (s: string, path: string) => {
    if (!s.isWellFormed()) return { path, message: "contains a lone UTF-16 surrogate (not valid Unicode)" };
    if (s.includes("\u0000")) return { path, message: "contains the NUL character (U+0000)" };
    return null;
  };
  const pointer = (path: string, key: string) => `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
  const stack: [unknown, string][] = [[value, ""]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === "string") {
      const bad = check(v, path || "/");
      if (bad) return bad;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${path}/${i}`]);
    } else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        const bad = check(k, pointer(path, k));
        if (bad) return { ...bad, message: `a key ${bad.message}` };
        stack.push([child, pointer(path, k)]);
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
    return parsed;
  };
}
