// The request body parser for every command: JSON only, bounded in size, malformed JSON refused.
import { CatalogError } from "../catalog/errors.ts";

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

/** `optional`: an absent or empty body reads as `{}` (for commands whose every field is optional). */
export function parseJsonBody(limitBytes: number, { optional = false } = {}) {
  const tooLarge = () => new CatalogError("PAYLOAD_TOO_LARGE", 413, `the body is larger than ${limitBytes} bytes`, { limitBytes });
  return async ({ request }: { request: Request }): Promise<unknown> => {
    const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (Number(request.headers.get("content-length") ?? "0") > limitBytes) throw tooLarge();
    const bytes = await request.arrayBuffer(); // a chunked body has no declared length: check again
    if (bytes.byteLength > limitBytes) throw tooLarge();
    if (optional && bytes.byteLength === 0) return {};
    if (!JSON_TYPE.test(type)) throw new CatalogError("UNSUPPORTED_MEDIA_TYPE", 415, "the body must be application/json");
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new CatalogError("MALFORMED_JSON", 400, "the body is not valid UTF-8");
    }
    if (text.trim() === "") {
      if (optional) return {};
      throw new CatalogError("VALIDATION_FAILED", 400, "a JSON body is required");
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new CatalogError("MALFORMED_JSON", 400, `the body is not valid JSON: ${(err as Error).message}`);
    }
  };
}
