// The operator's console in a real browser (issue 13, items 2 and 3): Debian's Chromium driven by
// playwright-core, against the real processes (the api on Bun; the relay and two consumers on
// Node 24) on a real PostgreSQL, Redis and Kafka broker. It logs in, sees the processes and their
// lag, runs a replay to 100 %, finds a corrupted cache entry in the inspector and repairs it, sees
// a dead letter and re-drives it (the api asks, a relay carries it out), and is refused with a wrong token, without a session and from
// another origin. Screenshots of each view go to SCREENSHOT_DIR (default .run/; docs/img/ holds
// docs/OPERATIONS.md's).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { encodeEntry, decodeEntry } from "../../src/infra/cache-format.ts";
import { createPipeline, kafkaTool, type Pipeline } from "../support/pipeline.ts";
import { waitFor } from "../support/services.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR ?? ".run";
const TOKEN = `console-${crypto.randomUUID()}`;
const WRONG = `wrong-${crypto.randomUUID()}`;
const fast = { HEARTBEAT_INTERVAL_MS: "500" };

let p: Pipeline;
let api: Awaited<ReturnType<Pipeline["startApi"]>>;
let relay: Awaited<ReturnType<Pipeline["startRelay"]>>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let ids: string[];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  p = await createPipeline("console");
  [api, relay] = await Promise.all([
    p.startApi({ ...fast, APP_ENV: "test", ADMIN_TOKEN: TOKEN, CONSOLE_NAMESPACES: "storefront" }),
    p.startRelay(fast),
    p.startConsumer("catalog", "rebuild", fast),
    p.startConsumer("storefront", "evict", fast),
  ]);
  ids = await p.createProducts(api.url, "c", 40);
  await p.converged(ids, ["catalog"]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  // No internet, by construction: anything leaving the api's origin is refused and recorded.
  const origin = new URL(api.url).origin;
  await page.route("**/*", (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort("internetdisconnected")));
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await p?.close();
});

/** Waits until the element's text passes `ok` (playwright-core has no expect of its own). */
async function textOf(selector: string, ok: (text: string) => boolean, what: string, timeoutMs = 10_000): Promise<string> {
  let last = "";
  try {
    return await waitFor(async () => {
      last = (await page.locator(selector).first().innerText().catch(() => "")) ?? "";
      return ok(last) ? last : null;
    }, timeoutMs, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${selector} reads: ${JSON.stringify(last)}`);
  }
}
const attrOf = (selector: string, name: string) => page.locator(selector).first().getAttribute(name);

const shot = (name: string) => page.screenshot({ path: `${SHOTS}/console-${name}.png`, fullPage: true });
const rowText = (selector: string) => page.locator(selector).allInnerTexts();

test("without a session the page is only the login form, and a wrong token is refused with the API's 401", async () => {
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const res = await page.goto(`${api.url}/admin/console`);
  expect(res!.status()).toBe(200);
  expect(res!.headers()["content-security-policy"]).toContain("script-src 'self'");
  await page.locator("#login-form").waitFor();
  expect(await page.locator("#processes, #inspect-form, #replay-form").count()).toBe(0);
  // The JSON views refuse a browser without a session.
  const noSession = await page.request.get(`${api.url}/admin/overview`);
  const apiRefusal = (await (await fetch(`${api.url}/admin/overview`, { headers: { authorization: `Bearer ${WRONG}` } })).json()) as { error: { message: string } };
  expect([noSession.status(), await noSession.json()]).toEqual([401, apiRefusal]);

  await page.fill("#token", WRONG);
  await page.click("#login-form button");
  expect(await textOf("#login-error", (t) => t.length > 0, "the refusal shown")).toBe(`UNAUTHORIZED: ${apiRefusal.error.message}`);
  expect(await context.cookies()).toEqual([]);
  await shot("login");
  expect(pageErrors).toEqual([]);
}, 30_000);

test("logs in: a signed, HttpOnly, SameSite=Strict, expiring session cookie; sees every process and its lag", async () => {
  await page.fill("#token", TOKEN);
  await page.click("#login-form button");
  await page.locator("#processes").waitFor({ timeout: 10_000 });
  const [cookie] = await context.cookies();
  expect(cookie).toMatchObject({ name: "catalog_console", httpOnly: true, sameSite: "Strict", path: "/admin" });
  expect(cookie!.expires * 1000).toBeGreaterThan(Date.now() + 3600_000);
  expect(cookie!.value).not.toContain(TOKEN);

  // Each process from its heartbeat: the api, the relay (leading) and both consumers with their lag.
  const rows = await waitFor(async () => {
    const r = await rowText("#processes tbody tr");
    const consumersWithLag = r.filter((t) => /^consumer\t/.test(t) && /\talive\t\t\d+\t/.test(t));
    return r.some((t) => /^api\t.*\talive\t/.test(t)) && r.some((t) => /^relay\t.*\talive\tleader\t/.test(t)) && consumersWithLag.length === 2 ? r : null;
  }, 15_000, "the api, the leading relay and two consumers with their lag");
  expect(rows.filter((t) => t.startsWith("consumer")).map((t) => t.split("\t")[2]).sort()).toEqual(["catalog", "storefront"]);
  // Per namespace: the consumers and their lag; the relay's backlog (drained).
  const namespaces = await rowText("#namespaces tbody tr");
  expect(namespaces.map((t) => t.split("\t")[0])).toEqual(["catalog", "storefront"]);
  await textOf("#relay", (t) => t.includes("backlog 0 row(s)"), "the relay's backlog drained");
  await shot("processes");
}, 30_000);

test("starts a replay and watches its bar reach 100 %; the job is listed with its counts", async () => {
  await page.fill("#replay-namespace", "catalog");
  await page.fill("#replay-ids", "");
  await page.click("#replay-form button");
  // The bar as it moves: every value it shows is kept, and it ends at 100.
  const seen = new Set<number>();
  await waitFor(async () => {
    const v = await page.locator("#replay-progress").evaluate((e) => (e as unknown as { value: number }).value);
    seen.add(v);
    return v === 100 ? true : null;
  }, 30_000, "the replay's bar at 100 %");
  expect(await page.locator("#replay-percent").innerText()).toBe("100 %");
  expect(await page.locator("#replay-detail").innerText()).toContain(`completed: ${ids.length} of ${ids.length} product(s)`);
  // The job as the list shows it (refreshed every 2 s): every product of this pipeline's database processed.
  await textOf("#jobs tbody tr", (t) => t.includes("completed") && t.includes(`100 % (${ids.length}/${ids.length})`), "the job listed as completed");
  await shot("replay");
}, 45_000);

test("a corrupted cache entry is highlighted in the inspector, and one button repairs it", async () => {
  const id = ids[7]!;
  // Version 2 everywhere first (the api's write-through is off: version 2 in the cache is the
  // consumer's, so nothing is still on its way), then the catalog entry is put back to version 1.
  expect((await fetch(`${api.url}/products/${id}`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ priceCents: 777 }) })).status).toBe(200);
  await waitFor(async () => (await p.cachedVersions("catalog", [id]))[0] === 2, 10_000, "version 2 in the catalog cache");
  const good = decodeEntry(await p.redis.get(p.key("catalog", id)))!;
  await p.redis.set(p.key("catalog", id), encodeEntry({ ...good, version: 1 }), "PX", 600_000);

  await page.fill("#inspect-id", id);
  await page.click("#inspect-form button");
  const catalogRow = '#inspect-namespaces tr[data-namespace="catalog"]';
  await textOf(catalogRow, (t) => t.includes("behind"), "the catalog entry shown as behind");
  expect([await attrOf(catalogRow, "class"), await attrOf(catalogRow, "data-status")]).toEqual(["behind", "behind"]);
  expect(await page.locator("#inspect-summary").innerText()).toContain("Behind: catalog.");
  expect(await page.locator("#inspect-events tbody tr").count()).toBe(2);
  // The storefront namespace (evict mode) holds the version as a marker, or nothing: not behind.
  expect(await page.locator('#inspect-namespaces tr[data-namespace="storefront"]').getAttribute("class")).not.toContain("behind");
  await shot("inspector");

  await page.click("#repair");
  await textOf("#repair-result", (t) => t.includes("every namespace is right now"), "the repair's result", 20_000);
  expect([await attrOf(catalogRow, "class"), await attrOf(catalogRow, "data-status")]).toEqual(["", "current"]);
  expect(await p.cachedEntry("catalog", id)).toBe(`2|p|${good.payload}`);
  await shot("inspector-repaired");
}, 45_000);

test("a dead letter shows with its reason and payload, and the re-drive sends it back", async () => {
  await kafkaTool(["produce", p.topic], JSON.stringify({ key: `${p.prefix}-poison`, value: "{not json <script>alert(1)</script>" }));
  const row = await textOf("#dead-letters tbody tr", (t) => t.includes("malformed-json"), "the dead letter listed", 20_000);
  expect(row).toContain("{not json <script>alert(1)</script>"); // as text, not markup
  // One per group (catalog and storefront), counted since the consumers first marked this Redis.
  await textOf("#dead-letter-counts", (t) => t.includes("malformed-json 2") && / since \S/.test(t), "one dead letter per group, and since when");
  await shot("dead-letters");
  await page.click("#redrive");
  await textOf("#redrive-result", (t) => t.includes("2 message(s) sent back"), "the re-drive's report", 60_000);
  expect(relay.output()).toContain('"msg":"dead letters re-driven"'); // carried out by the relay (Node), not the api (Bun)
}, 90_000);

test("a state-changing request with the session from another origin is refused; logout ends the session", async () => {
  const cross = await page.request.post(`${api.url}/admin/replay`, { headers: { origin: "http://attacker.example", "content-type": "application/json" }, data: { productIds: [ids[0]] } });
  expect([cross.status(), (await cross.json()).error.code]).toEqual([403, "FORBIDDEN_ORIGIN"]);
  const noOrigin = await page.request.post(`${api.url}/admin/replay`, { headers: { "content-type": "application/json" }, data: { productIds: [ids[0]] } });
  expect(noOrigin.status()).toBe(403);

  await page.click("#logout");
  await page.locator("#login-form").waitFor({ timeout: 10_000 });
  expect(await context.cookies()).toEqual([]);
  expect((await page.request.get(`${api.url}/admin/overview`)).status()).toBe(401);
  // Neither token was written to any log line.
  expect(api.output()).not.toContain(TOKEN);
  expect(api.output()).not.toContain(WRONG);
}, 30_000);
