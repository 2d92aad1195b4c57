// The product as clients see it, and the rules its fields obey. Pure: no I/O.

export type ProductFields = {
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  category?: string;
};

/** A change of some fields; `category: null` removes the category. */
export type FieldChanges = Partial<Omit<ProductFields, "category">> & { category?: string | null };

/** The fields after `changes`: shared by decide (what a PATCH asks for) and evolve (what it did). */
export function applyChanges(state: ProductFields, changes: FieldChanges): ProductFields {
  const { category, ...rest } = changes;
  const next: ProductFields = {
    name: rest.name ?? state.name,
    description: rest.description ?? state.description,
    priceCents: rest.priceCents ?? state.priceCents,
    currency: rest.currency ?? state.currency,
  };
  const cat = category === undefined ? state.category : (category ?? undefined);
  if (cat !== undefined) next.category = cat;
  return next;
}

/** Current state of one product stream: what `evolve` folds events into. */
export type ProductState = ProductFields & {
  id: string;
  version: number;
  deleted: boolean;
  createdAt: string;
  updatedAt: string;
};

/** The public representation served over HTTP and stored in the caches. */
export type ProductView = ProductFields & { id: string; version: number; updatedAt: string };

export const LIMITS = {
  idPattern: "^[A-Za-z0-9_-]{1,64}$",
  nameMax: 200,
  descriptionMax: 5000,
  priceMax: 1_000_000_000_000,
  categoryMax: 100,
  batchMax: 100,
} as const;

const ID = new RegExp(LIMITS.idPattern);
export const isValidId = (id: string): boolean => ID.test(id);

// ISO 4217 codes as the runtime knows them (ICU data), so "ABC" is refused, not only "usd".
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"));
export const isKnownCurrency = (code: string): boolean => CURRENCIES.has(code);

export function toView(state: ProductState): ProductView {
  const view: ProductView = {
    id: state.id,
    name: state.name,
    description: state.description,
    priceCents: state.priceCents,
    currency: state.currency,
    version: state.version,
    updatedAt: state.updatedAt,
  };
  if (state.category !== undefined) view.category = state.category;
  return view;
}

/** Equal as states: every field, whatever the key order. */
export const sameState = (a: ProductState, b: ProductState): boolean => sameFields(a, b) || sameJson(a, b);

// Strictly equal known fields, and no other key on either side: then sameJson holds too. A fast,
// allocation-free answer for the common case (the replay compares every snapshot row with its
// events); anything else is left to sameJson.
function sameFields(a: ProductState, b: ProductState): boolean {
  if (
    a.id !== b.id ||
    a.version !== b.version ||
    a.deleted !== b.deleted ||
    a.name !== b.name ||
    a.description !== b.description ||
    a.priceCents !== b.priceCents ||
    a.currency !== b.currency ||
    a.category !== b.category ||
    a.createdAt !== b.createdAt ||
    a.updatedAt !== b.updatedAt
  ) {
    return false;
  }
  const known = a.category === undefined ? 9 : 10;
  return ownKeys(a) === known && ownKeys(b) === known;
}
function ownKeys(o: object): number {
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k)) n++;
  return n;
}
const sameJson = (a: ProductState, b: ProductState): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
