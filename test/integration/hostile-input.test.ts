// Issue 9, the requests a new user or an attacker sends: deep nesting costs little CPU and never a
// 5xx; the representation GET returns can be PUT back; repeated query values are merged, not
// dropped; text with an emoji (a valid surrogate pair) is fine. (The refusals themselves are in
// bad-requests.test.ts, each with "nothing changed".)
import { afterAll, describe, expect, test } from "bun:test";
import { jsonDepth, unstorableText } from "../../src/http/body.ts";
import { createHarness } from "../support/harness.ts";

const h = createHarness("hostile");
afterAll(() => h.close());

/** CPU time (user + system) of this process while `fn` runs, in ms. */
async function cpuMs(fn: () => Promise<unknown>) {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

describe("bodies of any shape within the size limit", () => {
  const nasty: [string, string][] = [
    ["64 KB of nested arrays", `${"[".repeat(32_000)}${"]".repeat(32_000)}`],
    ["64 KB of nested objects", `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`],
    ["64 KB of [ that never closes", "[".repeat(65_000)],
    ["nesting at the limit, then a wrong type", `${"[".repeat(31)}1${"]".repeat(31)}`],
    ["a 60 KB array at depth 31", `${"[".repeat(30)}[${"1,".repeat(30_000)}1]${"]".repeat(30)}`],
    ["a 60 KB string of escapes", `{"name":"${"\\u0041".repeat(10_000)}","priceCents":1,"currency":"EUR"}`],
    ["an object of 6,000 keys", `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":1`).join(",")}}`],
  ];
  // The time is the behaviour here: the requirement is an answer within 50 ms of CPU (it was 5.5 s).
  test.each(nasty)("%s: 4xx within 50 ms of CPU, to a write and to the admin route", async (_label, body) => {
    for (const [method, path, admin] of [["POST", "/products", false], ["PATCH", `/products/${h.id("x")}`, false], ["POST", "/admin/replay", true]] as const) {
      let status = 0;
      const ms = await cpuMs(async () => {
        status = (await h.call(method, path, { raw: body, headers: { "content-type": "application/json" }, admin })).status;
      });
      expect({ method, path, status: status >= 400 && status < 500 }).toEqual({ method, path, status: true });
      expect(ms).toBeLessThan(50);
    }
  });

  test("a DELETE's body is not read, whatever its size or shape: 1 MB of nesting costs nothing and changes nothing", async () => {
    const p = await h.create();
    let status = 0;
    const ms = await cpuMs(async () => {
      status = (await h.call("DELETE", `/products/${h.id("ghost")}`, { raw: "[".repeat(1_000_000), headers: { "content-type": "application/json" } })).status;
    });
    expect(status).toBe(404);
    expect(ms).toBeLessThan(50);
    expect((await h.call("DELETE", `/products/${p.id}`, { raw: "{", headers: { "content-type": "application/json" } })).status).toBe(204);
  });

  test("the depth scan skips strings and counts only real nesting", () => {
    expect(jsonDepth('{"a":"[[[[[[","b":[1,[2]]}')).toBe(3);
    expect(jsonDepth('"\\"[[["')).toBe(0);
    expect(jsonDepth("[".repeat(33))).toBe(Infinity);
    expect(unstorableText({ ok: ["😀", "x"], bad: { ["k/~"]: "\ud800" } })).toEqual({ path: "/bad/k~1~0", message: "contains a lone UTF-16 surrogate (not valid Unicode)" });
    expect(unstorableText(["a", "b\u0000"])).toEqual({ path: "/1", message: "contains the NUL character (U+0000)" });
  });
});

describe("PUT takes back what GET returns", () => {
  test("with id, version and updatedAt in the body; version works as If-Match", async () => {
    const p = await h.create({ name: "Lamp 💡" }); // a valid surrogate pair is fine
    const got = (await h.call("GET", `/products/${p.id}`)).body;
    const put = await h.call("PUT", `/products/${p.id}`, { body: { ...got, priceCents: 99 } });
    expect([put.status, put.body.version, put.body.priceCents, put.body.name]).toEqual([200, 2, 99, "Lamp 💡"]);
    const stale = await h.call("PUT", `/products/${p.id}`, { body: { ...got, priceCents: 5 } }); // still says version 1
    expect([stale.status, stale.body.error.code, stale.body.error.details.currentVersion]).toEqual([412, "VERSION_CONFLICT", 2]);
    const same = await h.call("PUT", `/products/${p.id}`, { body: { ...put.body, priceCents: 7 }, headers: { "if-match": '"2"' } });
    expect([same.status, same.body.version]).toEqual([200, 3]);
  });
});

describe("repeated query values", () => {
  test("?ids=a&ids=b,c means a, b and c", async () => {
    const [a, b, c] = [await h.create(), await h.create(), await h.create()];
    const r = await h.call("GET", `/products?ids=${a.id}&ids=${b.id},${c.id}`);
    expect([r.status, r.body.items.map((p: { id: string }) => p.id), r.body.missing]).toEqual([200, [a.id, b.id, c.id], []]);
    const tooMany = Array.from({ length: 60 }, (_, i) => `x${i}`).join(",");
    expect((await h.call("GET", `/products?ids=${tooMany}&ids=${tooMany}`)).status).toBe(400);
  });
});
