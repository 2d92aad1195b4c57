// HTTP/1.1 over a bare TCP socket, for what `fetch` cannot send: pipelined requests, a body on a
// GET, odd header bytes, and bodies written slowly or abandoned half-way. Responses are parsed from
// the byte stream (Content-Length or chunked), so a response cut short is seen as such.
import net from "node:net";

/** `ms`: from the client's last write to the response's last byte (the server's time, not the client's pauses). */
export type RawResponse = { status: number; headers: Record<string, string>; body: string; ms: number };
export type RawExchange = {
  responses: RawResponse[];
  /** The server closed the connection (before `expect` responses arrived, if fewer came). */
  closed: boolean;
  /** Neither all the responses nor a close came within the time limit. */
  timedOut: boolean;
  ms: number;
};

/** Parses as many complete responses as `buf` holds. */
function parseResponses(buf: Buffer): { responses: Omit<RawResponse, "ms">[] } {
  const responses: Omit<RawResponse, "ms">[] = [];
  let at = 0;
  for (;;) {
    const headEnd = buf.indexOf("\r\n\r\n", at);
    if (headEnd < 0) break;
    const [statusLine, ...headerLines] = buf.subarray(at, headEnd).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1] ?? NaN);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let done = false;
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", p);
        if (lineEnd < 0) break;
        const size = parseInt(buf.subarray(p, lineEnd).toString("latin1"), 16);
        if (buf.length < lineEnd + 2 + size + 2) break;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
        if (size === 0) {
          done = true;
          break;
        }
      }
      if (!done) break;
      body = Buffer.concat(parts);
      bodyStart = p;
    } else {
      const length = Number(headers["content-length"] ?? 0);
      if (buf.length < bodyStart + length) break;
      body = buf.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    }
    responses.push({ status, headers, body: body.toString("utf8") });
    at = bodyStart;
  }
  return { responses };
}

/**
 * Opens a connection to 127.0.0.1:`port`, writes each part (waiting `delayMs` before it), and
 * collects responses until `expect` have arrived, the server closes, or `timeoutMs` passes. With
 * `abandon`, the client closes the connection after the last part and expects nothing.
 */
export async function exchange(
  port: number,
  parts: { bytes: Uint8Array; delayMs?: number }[],
  opts: { expect: number; timeoutMs?: number; abandon?: boolean },
): Promise<RawExchange> {
  const started = performance.now();
  const socket = net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let closed = false;
  const responses: RawResponse[] = [];
  let lastWrite = started;
  let wake = () => {};
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const parsed = parseResponses(buf).responses;
    const now = performance.now();
    for (const r of parsed.slice(responses.length)) responses.push({ ...r, ms: now - lastWrite });
    wake();
  });
  socket.on("error", () => {}); // a reset is a close here
  socket.on("close", () => {
    closed = true;
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  for (const part of parts) {
    if (part.delayMs) await Bun.sleep(part.delayMs);
    if (closed) break;
    socket.write(part.bytes);
    lastWrite = performance.now();
  }
  if (opts.abandon) {
    socket.destroy();
    return { responses, closed: true, timedOut: false, ms: performance.now() - started };
  }
  const deadline = started + (opts.timeoutMs ?? 5000);
  while (responses.length < opts.expect && !closed && performance.now() < deadline) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, Math.max(1, deadline - performance.now()));
    });
  }
  const timedOut = responses.length < opts.expect && !closed;
  socket.destroy();
  return { responses, closed, timedOut, ms: performance.now() - started };
}
