// docs/TROUBLESHOOTING.md stays true: its error table lists every code of the table in
// src/catalog/errors.ts with its status, and no other; every log message its table explains is
// one the code still logs (word for word, so that a reader can search for it).
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Glob } from "bun";
import { ERROR_CODES } from "../../src/catalog/errors.ts";
import { ROOT } from "../support/processes.ts";

const doc = readFileSync(join(ROOT, "docs/TROUBLESHOOTING.md"), "utf8");
const section = (title: string) => doc.split(`## ${title}\n`)[1]!.split("\n## ")[0]!;

test("the error table has every code with its status, and only those", () => {
  const rows = [...section("What the common errors mean").matchAll(/^\| (\d{3}) `([A-Z_]+)`/gm)].map((m) => [m[2]!, Number(m[1])]);
  expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(ERROR_CODES).map(([code, { status }]) => [code, status])));
});

test("every log message the doc explains is logged by the code", async () => {
  const sources: string[] = [];
  for (const dir of ["src", "relay", "consumers", "storefront"])
    for await (const f of new Glob(`${dir}/**/*.ts`).scan({ cwd: ROOT })) if (!f.includes("/generated/")) sources.push(readFileSync(join(ROOT, f), "utf8"));
  const code = sources.join("\n");
  const messages = [...section("What the common log lines mean").matchAll(/^\| [A-Z]+ \| (.+?) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([^`]+)`/g)].map((x) => x[1]!));
  expect(messages.length).toBeGreaterThan(15);
  // Messages of librdkafka (not ours) and those built from a template (`${what} is broken; replacing it`).
  const theirs = (m: string) => m.startsWith("Consumer group session timed out");
  const templated: Record<string, string> = { "kafka consumer is broken; replacing it": "is broken; replacing it", "kafka producer is broken; replacing it": "is broken; replacing it" };
  // A field shown beside a message (`dependency: "postgres"`) is not a message.
  const field = (m: string) => /^[a-z]+: "/.test(m);
  const missing = messages.filter((m) => !theirs(m) && !field(m) && !code.includes(`"${templated[m] ?? m}`) && !code.includes(templated[m] ?? `"${m}"`));
  expect(missing).toEqual([]);
});
