// Property-based tests (fast-check) of the write rules: whatever sequence of commands arrives,
// versions go 1, 2, 3… without gaps, folding the events gives the state decide saw, a deleted
// product is found by nobody, and If-Match never lets a stale writer through.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { decide, type Command } from "../../src/catalog/decide.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import type { ProductEvent } from "../../src/catalog/events.ts";
import { evolve, fold } from "../../src/catalog/evolve.ts";
import type { ProductState } from "../../src/catalog/product.ts";

const name = fc.string({ minLength: 1, maxLength: 20 });
const fieldsArb = fc.record(
  {
    name,
    description: fc.string({ maxLength: 30 }),
    priceCents: fc.integer({ min: 0, max: 1_000_000_000_000 }),
    currency: fc.constantFrom("EUR", "USD", "GBP", "JPY"),
    category: fc.string({ minLength: 1, maxLength: 10 }),
  },
  { requiredKeys: ["name", "description", "priceCents", "currency"] },
);
const changesArb = fc.record(
  {
    name,
    description: fc.string({ maxLength: 30 }),
    priceCents: fc.integer({ min: 0, max: 1_000_000_000_000 }),
    currency: fc.constantFrom("EUR", "USD"),
    category: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: null }),
  },
  { requiredKeys: [] },
);
const expected = fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined });
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fieldsArb.map((fields) => ({ type: "CreateProduct", id: "p", fields }) as Command),
  fc.tuple(fieldsArb, expected).map(([fields, expectedVersion]) => ({ type: "ReplaceProduct", id: "p", fields, expectedVersion }) as Command),
  fc.tuple(changesArb, expected).map(([changes, expectedVersion]) => ({ type: "PatchProduct", id: "p", changes, expectedVersion }) as Command),
  expected.map((expectedVersion) => ({ type: "DeleteProduct", id: "p", expectedVersion }) as Command),
);

function run(commands: Command[]) {
  let n = 0;
  const ctx = { now: () => new Date(1_700_000_000_000 + n * 1000), newId: () => `e${++n}` };
  let state: ProductState | null = null;
  const history: ProductEvent[] = [];
  const outcomes: { command: Command; before: ProductState | null; events: ProductEvent[]; error?: CatalogError }[] = [];
  for (const command of commands) {
    const before = state;
    try {
      const events = decide(command, state, ctx);
      for (const e of events) state = evolve(state, e);
      history.push(...events);
      outcomes.push({ command, before, events });
    } catch (err) {
      if (!(err instanceof CatalogError)) throw err;
      outcomes.push({ command, before, events: [], error: err });
    }
  }
  return { state, history, outcomes };
}

describe("decide and evolve, for any sequence of commands", () => {
  test("versions are 1..n without gaps, and folding the history gives the current state", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 30 }), (commands) => {
        const { state, history } = run(commands);
        expect(history.map((e) => e.version)).toEqual(history.map((_, i) => i + 1));
        expect(fold(history)).toEqual(state);
      }),
      { numRuns: 500 },
    );
  });

  test("a refused command changes nothing, and every refusal has a stable code and a 4xx status", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 30 }), (commands) => {
        for (const o of run(commands).outcomes) {
          if (!o.error) continue;
          expect(o.events).toEqual([]);
          expect(["ALREADY_EXISTS", "NOT_FOUND", "VERSION_CONFLICT"]).toContain(o.error.code);
          expect(o.error.status).toBeGreaterThanOrEqual(400);
          expect(o.error.status).toBeLessThan(500);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("If-Match lets a write through only when it names the current version", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 30 }), (commands) => {
        for (const o of run(commands).outcomes) {
          const ifMatch = "expectedVersion" in o.command ? o.command.expectedVersion : undefined;
          if (ifMatch === undefined || !o.before || o.before.deleted) continue;
          if (ifMatch === o.before.version) expect(o.error?.code).not.toBe("VERSION_CONFLICT");
          else expect(o.error?.code).toBe("VERSION_CONFLICT");
        }
      }),
      { numRuns: 500 },
    );
  });

  test("after a delete the product is gone until it is created again, and its versions go on", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 30 }), (commands) => {
        const { outcomes } = run(commands);
        for (const o of outcomes) {
          if (o.before?.deleted && o.command.type !== "CreateProduct") expect(o.error?.code).toBe("NOT_FOUND");
          if (o.before?.deleted && o.command.type === "CreateProduct") expect(o.events[0]!.version).toBe(o.before.version + 1);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("a replace or patch with the current values writes nothing", () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        const { state } = run([{ type: "CreateProduct", id: "p", fields }]);
        const same = { name: state!.name, description: state!.description, priceCents: state!.priceCents, currency: state!.currency, ...(state!.category ? { category: state!.category } : {}) };
        expect(decide({ type: "ReplaceProduct", id: "p", fields: same }, state, { now: () => new Date(), newId: () => "x" })).toEqual([]);
        expect(decide({ type: "PatchProduct", id: "p", changes: same }, state, { now: () => new Date(), newId: () => "x" })).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
