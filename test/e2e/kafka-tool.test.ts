// scripts/kafka-tool.ts dump against the local broker (issue 14, item 6): an empty topic says
// "0 messages"; a message shows its timestamp (ISO 8601) and its value decoded; --limit N stops
// after N; --json gives the same messages one JSON object per line, for scripts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { kafkaTool } from "../support/pipeline.ts";
import { ROOT } from "../support/processes.ts";

const topic = `kafka-tool-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  await kafkaTool(["create", topic, "1"]);
});
afterAll(async () => {
  await kafkaTool(["delete", topic]).catch(() => {});
});

test("dump of an empty topic prints 0 messages", async () => {
  expect(await kafkaTool(["dump", topic])).toBe("0 messages\n");
});

test("dump decodes values, shows ISO timestamps and headers, and --limit stops after N", async () => {
  const before = Date.now();
  const lines = [
    { key: "p-1", value: { name: "Lamp", price: { amount: 1999, currency: "EUR" } }, headers: { "x-product-version": "1" } },
    { key: "p-2", value: "not json" },
    { key: "p-3", value: JSON.stringify({ n: 3 }) },
  ];
  await kafkaTool(["produce", topic], lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const after = Date.now();

  const out = await kafkaTool(["dump", topic]);
  expect(out.trimEnd().split("\n").at(-1)).toBe("3 messages");
  const stamps = [...out.matchAll(/^partition 0 {2}offset (\d+) {2}(\S+) {2}key (\S+)$/gm)].map((m) => ({ offset: m[1], at: m[2]!, key: m[3] }));
  expect(stamps.map(({ offset, key }) => ({ offset, key }))).toEqual([
    { offset: "0", key: "p-1" },
    { offset: "1", key: "p-2" },
    { offset: "2", key: "p-3" },
  ]);
  for (const { at } of stamps) {
    expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(at)).toBeGreaterThanOrEqual(before - 1000); // the broker's clock is this machine's
    expect(Date.parse(at)).toBeLessThanOrEqual(after + 1000);
  }
  // The object value, pretty-printed (indented under its message); the text value as text; the
  // JSON text value decoded too.
  expect(out).toContain(["  {", '    "name": "Lamp",', '    "price": {', '      "amount": 1999,', '      "currency": "EUR"', "    }", "  }"].join("\n"));
  expect(out).toContain("  headers: x-product-version=1");
  expect(out).toContain("key p-2\n  not json\n");
  expect(out).toContain(["key p-3", "  {", '    "n": 3', "  }"].join("\n"));

  const limited = await kafkaTool(["dump", topic, "--limit", "2"]);
  expect(limited.match(/^partition /gm)?.length).toBe(2);
  expect(limited.trimEnd().split("\n").at(-1)).toBe("2 messages (--limit 2; the topic may hold more)");

  const json = (await kafkaTool(["dump", topic, "--json"])).trim().split("\n").map((l) => JSON.parse(l));
  expect(json.map((m) => [m.key, m.value, m.timestamp])).toEqual([
    ["p-1", JSON.stringify(lines[0]!.value), stamps[0]!.at],
    ["p-2", "not json", stamps[1]!.at],
    ["p-3", '{"n":3}', stamps[2]!.at],
  ]);
});

test("the wrapper runs it on Node 24 from a shell whose PATH has neither bun nor Node 24", async () => {
  const proc = Bun.spawn(["bash", "scripts/kafka-tool.sh", "dump", topic, "--limit", "1"], {
    cwd: ROOT,
    env: { HOME: process.env.HOME ?? "/root", PATH: "/usr/bin:/bin", KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? "127.0.0.1:9092" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(out).toContain("partition 0  offset 0");
  expect(out).toContain("1 message (--limit 1; the topic may hold more)");
});
