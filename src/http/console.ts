// The operator's console at GET /admin/console: one server-rendered page and a small script of the
// project's own (no CDN, works offline) over the operator's JSON routes (operator.ts, admin.ts).
// The admin token is typed once into the login form and exchanged for a session cookie: HttpOnly,
// SameSite=Strict, signed, expiring (auth.ts). Without a session the page is only the login form.
import { Elysia, t } from "elysia";
import type { Logger } from "pino";
import { checkOrigin, cookieValue, loginCheck, SESSION_COOKIE, type Sessions } from "./auth.ts";
import { parseJsonBody } from "./body.ts";
import { errorResponse } from "./errors.ts";
import { operatorDocs } from "./operator-docs.ts";

export const CONSOLE_PATH = "/admin/console";
const ASSETS = { "console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8" } as const;
/** The paths under /admin/ that answer without a session: the page (its login form), its assets, login and logout. */
export const CONSOLE_OPEN_PATHS: ReadonlySet<string> = new Set([CONSOLE_PATH, ...Object.keys(ASSETS).map((f) => `${CONSOLE_PATH}/${f}`), "/admin/session", "/admin/session/logout"]);

const SECURITY_HEADERS = {
  // Only the project's own script and style; nothing inline, nothing from elsewhere.
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function page(title: string, body: string, data: Record<string, string>): string {
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`)
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${CONSOLE_PATH}/console.css">
</head>
<body${attrs}>
${body}
<script src="${CONSOLE_PATH}/console.js"></script>
</body>
</html>
`;
}

const LOGIN = `<main class="login">
  <h1>catalog-cache console</h1>
  <form id="login-form" autocomplete="off">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" required autocomplete="current-password" autofocus>
    <button type="submit">Log in</button>
    <p id="login-error" class="error" role="alert"></p>
  </form>
</main>`;

const APP = (namespace: string, devMode: boolean) => `<header>
  <h1>catalog-cache console</h1>
  <span id="updated" class="muted">loading…</span>
  ${devMode ? '<span class="warn">development mode: no ADMIN_TOKEN, the admin routes are open</span>' : '<button id="logout" type="button">Log out</button>'}
</header>
<main>
  <section id="processes-section">
    <h2>Processes</h2>
    <table id="processes"><thead><tr><th>role</th><th>instance</th><th>namespace</th><th>status</th><th>leader</th><th>lag</th><th>last beat</th><th>version</th><th>started</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="namespaces-section">
    <h2>Namespaces</h2>
    <table id="namespaces"><thead><tr><th>namespace</th><th>readers</th><th>hit ratio</th><th>fills refused</th><th>consumers</th><th>lag</th><th>commit→cache p99</th><th>last applied</th></tr></thead><tbody></tbody></table>
    <p id="relay" class="muted"></p>
    <p class="muted">Lag: messages after what each consumer last consumed, summed over its partitions. The relay writes in transactions, so a partition that is caught up still counts 1 (the commit marker after the last message).</p>
  </section>
  <section id="replay-section">
    <h2>Replay</h2>
    <form id="replay-form">
      <label for="replay-namespace">Namespace</label>
      <input id="replay-namespace" name="namespace" value="${escapeHtml(namespace)}" pattern="[A-Za-z0-9_-]{1,32}" required>
      <label for="replay-ids">Product ids (empty: all products)</label>
      <input id="replay-ids" name="ids" placeholder="p-1, p-2">
      <button type="submit">Start replay</button>
    </form>
    <div id="replay-current" hidden>
      <progress id="replay-progress" max="100" value="0"></progress>
      <span id="replay-percent">0 %</span>
      <span id="replay-detail" class="muted"></span>
    </div>
    <p id="replay-error" class="error" role="alert"></p>
    <table id="jobs"><thead><tr><th>started</th><th>job</th><th>namespace</th><th>scope</th><th>status</th><th>progress</th><th>written</th><th>repaired</th><th>missing</th><th>errors</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="inspector-section">
    <h2>Product inspector</h2>
    <form id="inspect-form">
      <label for="inspect-id">Product id</label>
      <input id="inspect-id" name="id" required pattern="[A-Za-z0-9_-]{1,64}">
      <button type="submit">Inspect</button>
    </form>
    <p id="inspect-error" class="error" role="alert"></p>
    <div id="inspection" hidden>
      <p id="inspect-summary"></p>
      <table id="inspect-namespaces"><thead><tr><th>namespace</th><th>status</th><th>version</th><th>kind</th><th>TTL left</th><th>key</th></tr></thead><tbody></tbody></table>
      <button id="repair" type="button" hidden>Repair this product</button>
      <p id="repair-result" role="status"></p>
      <h3>Events</h3>
      <table id="inspect-events"><thead><tr><th>version</th><th>type</th><th>occurred</th><th>data</th></tr></thead><tbody></tbody></table>
    </div>
  </section>
  <section id="dead-letters-section">
    <h2>Dead letters</h2>
    <p>As the consumers recorded them in Redis: a Redis restart or flush starts this view again. The dead-letter topic keeps every letter, and the re-drive reads the topic.</p>
    <p id="dead-letter-counts"></p>
    <button id="redrive" type="button">Re-drive all dead letters</button>
    <p id="redrive-result" role="status"></p>
    <table id="dead-letters"><thead><tr><th>when</th><th>group</th><th>reason</th><th>source</th><th>key</th><th>payload</th></tr></thead><tbody></tbody></table>
  </section>
</main>`;

export type ConsoleDeps = {
  logger: Logger;
  adminToken: string | null;
  sessions: Sessions | null;
  namespace: string;
  bodyLimitBytes: number;
};

export function consoleRoutes(deps: ConsoleDeps) {
  const check = loginCheck(deps.adminToken);
  const assetFiles = Object.fromEntries(Object.keys(ASSETS).map((f) => [f, new URL(`./console/${f}`, import.meta.url)]));
  const html = (body: string) => new Response(body, { headers: { "content-type": "text/html; charset=utf-8", ...SECURITY_HEADERS } });
  const secure = (request: Request) => request.url.startsWith("https:") || request.headers.get("x-forwarded-proto") === "https";
  const cookie = (request: Request, value: string, maxAgeSeconds: number) =>
    `${SESSION_COOKIE}=${value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure(request) ? "; Secure" : ""}`;

  return new Elysia({ name: "console" })
    .parser("consoleJson", parseJsonBody(Math.min(deps.bodyLimitBytes, 8 * 1024)))
    .get(
      CONSOLE_PATH,
      ({ request }) => {
        const devMode = deps.adminToken === null;
        const loggedIn = devMode || (deps.sessions?.valid(cookieValue(request.headers.get("cookie"), SESSION_COOKIE)) ?? false);
        return html(page("catalog-cache console", loggedIn ? APP(deps.namespace, devMode) : LOGIN, { view: loggedIn ? "app" : "login" }));
      },
      { detail: operatorDocs.consolePage },
    )
    .get(`${CONSOLE_PATH}/:asset`, ({ params }) => {
      const type = ASSETS[params.asset as keyof typeof ASSETS];
      if (!type) return errorResponse("ROUTE_NOT_FOUND", `no route for GET ${CONSOLE_PATH}/${params.asset}`);
      return new Response(Bun.file(assetFiles[params.asset]!), { headers: { "content-type": type, "cache-control": "no-cache", "x-content-type-options": "nosniff" } });
    }, { detail: { hide: true } })
    .post(
      "/admin/session",
      ({ request, body, set }) => {
        checkOrigin(request);
        check(body.token); // 401 UNAUTHORIZED, as the API; the token is in no log line
        if (!deps.sessions) {
          set.status = 204; // development mode: nothing to exchange
          return;
        }
        const session = deps.sessions.issue();
        deps.logger.info("console login");
        set.status = 204;
        set.headers["set-cookie"] = cookie(request, session.value, Math.floor(deps.sessions.ttlMs / 1000));
      },
      { body: t.Object({ token: t.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }), parse: "consoleJson", detail: operatorDocs.login },
    )
    .post(
      "/admin/session/logout",
      ({ request, set }) => {
        checkOrigin(request);
        set.status = 204;
        set.headers["set-cookie"] = cookie(request, "", 0);
      },
      { parse: "none", detail: operatorDocs.logout },
    );
}
