// The API reference page renders in a real browser with no internet access (issue 9, item 9): the
// api serves the Scalar UI's script from node_modules, and every request the page makes off the
// api's own origin is refused and counted. Debian's Chromium, driven by playwright-core.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chromium, type Browser } from "playwright-core";
import { TEST_DATABASE_URL, TEST_REDIS_URL, uniquePrefix, waitFor } from "../support/services.ts";
import { BUN, spawn, type Proc } from "../support/processes.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
let api: Proc;
let url: string;
let browser: Browser;

beforeAll(async () => {
  api = spawn([BUN, "src/main.ts"], { PORT: "0", DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, CACHE_KEY_PREFIX: uniquePrefix("ui"), LOG_LEVEL: "info" });
  url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(api.output())?.[1], 20_000, "the api to listen");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  api?.kill("SIGKILL");
});

test("GET /openapi renders every operation of the contract, offline", async () => {
  const page = await browser.newPage();
  const origin = new URL(url).origin;
  const offsite: string[] = [];
  const pageErrors: string[] = [];
  // No internet here, by construction: whatever leaves the api's origin is aborted and recorded.
  await page.route("**/*", (route) => {
    const target = route.request().url();
    if (target.startsWith(origin) || target.startsWith("data:") || target.startsWith("blob:")) return route.continue();
    offsite.push(target);
    return route.abort("internetdisconnected");
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  const scripts: string[] = [];
  page.on("response", (r) => {
    if (r.request().resourceType() === "script") scripts.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(`${url}/openapi`);
  expect(scripts).toEqual([`200 ${origin}/openapi/scalar.js`]);

  // Scalar renders the document's title, then one sidebar entry per operation, named by its summary.
  await page.getByRole("heading", { name: "catalog-cache" }).first().waitFor({ timeout: 20_000 });
  const doc = (await (await fetch(`${url}/openapi/json`)).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
  const summaries = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.summary ?? ""));
  expect(summaries.length).toBeGreaterThanOrEqual(12);
  const body = await page.locator("body").innerText();
  expect(summaries.filter((s) => !s || !body.includes(s))).toEqual([]);
  // An operation opens with its path and documented error codes.
  await page.getByText("Replace a product").first().click();
  await page.getByText("VERSION_CONFLICT").first().waitFor({ timeout: 10_000 });
  expect({ offsite, pageErrors }).toEqual({ offsite: [], pageErrors: [] });
  await page.screenshot({ path: ".run/openapi-ui.png" });
});
