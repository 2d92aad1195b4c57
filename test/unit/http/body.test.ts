// The body parser's checks, as pure functions: unstorableText finds a string or key the stores
// cannot hold exactly when there is one, and names it by a JSON pointer that leads to it; the
// parsed body prints short as a whole (cheapToPrint), with its fields untouched.
import { expect, test } from "bun:test";
import fc from "fast-check";
import { cheapToPrint, unstorableText } from "../../../src/http/body.ts";

const bad = (s: string) => !s.isWellFormed() || s.includes("\u0000");

/** Every pointer (RFC 6901) to a string or key that `bad` refuses, by a plain recursive walk. */
function badPointers(v: unknown, path = "", out = new Set<string>()): Set<string> {
  const escape = (k: string) => k.replaceAll("~", "~0").replaceAll("/", "~1");
  if (typeof v === "string") {
    if (bad(v)) out.add(path || "/");
  } else if (Array.isArray(v)) v.forEach((c, i) => badPointers(c, `${path}/${i}`, out));
  else if (v !== null && typeof v === "object") {
    for (const [k, c] of Object.entries(v)) {
      if (bad(k)) out.add(`${path}/${escape(k)}`);
      badPointers(c, `${path}/${escape(k)}`, out);
    }
  }
  return out;
}

test("unstorableText: null exactly when nothing is wrong; else a pointer to something wrong", () => {
  const text = fc.oneof(fc.string(), fc.constantFrom("\ud800", "a\u0000", "x/~", "~1", "", "\udc00b", "😀"));
  const json = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: "small" }, text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(text, tie("v"), { maxKeys: 4 })),
  })).v;
  fc.assert(
    fc.property(json, (v) => {
      const found = unstorableText(v);
      const wrong = badPointers(v);
      expect(found === null).toBe(wrong.size === 0);
      if (found) expect(wrong.has(found.path)).toBe(true);
    }),
    { numRuns: 5000 },
  );
});

test("unstorableText names the root, keys and elements as pointers, with the reason", () => {
  expect(unstorableText("\ud800")).toEqual({ path: "/", message: "contains a lone UTF-16 surrogate (not valid Unicode)" });
  expect(unstorableText({ "": { x: "a\u0000" } })).toEqual({ path: "//x", message: "contains the NUL character (U+0000)" });
  expect(unstorableText({ a: [1, "ok", { "k\u0000": 1 }] })).toEqual({ path: "/a/2/k\u0000", message: "a key contains the NUL character (U+0000)" });
  expect(unstorableText([1, 2, true, null, { a: "fine" }])).toBeNull();
});

test("cheapToPrint: the body prints as a placeholder as a whole; its fields and their printing are as parsed", () => {
  const body = cheapToPrint(JSON.parse('{"name":"Teapot","tags":[1,[2]],"nested":{"a":1}}'));
  expect(JSON.stringify(body)).toBe('"(the request body)"');
  expect(JSON.stringify({ found: body }, null, 2)).toBe('{\n  "found": "(the request body)"\n}');
  expect(Object.keys(body)).toEqual(["name", "tags", "nested"]);
  expect(JSON.stringify(body.nested)).toBe('{"a":1}');
  expect(JSON.stringify(body.tags)).toBe("[1,[2]]");
  const list = cheapToPrint([1, 2]);
  expect(JSON.stringify(list)).toBe('"(the request body)"');
  expect([...list]).toEqual([1, 2]);
  expect(cheapToPrint("text")).toBe("text");
});
