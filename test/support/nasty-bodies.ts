// The nastiest requests within the body limit (issue 9), shared by the test that keeps the api
// responsive under them and by bench/hostile.ts, which measures it.
export type Nasty = { label: string; method: string; path: (id: string) => string; body: string; admin: boolean; status: number };

const deepArrays = `${"[".repeat(32_000)}${"]".repeat(32_000)}`;
const deepObjects = `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`;
const wide = `{"productIds":[${Array.from({ length: 6000 }, (_, i) => `"i${i}-x"`).join(",")}, 7]}`;
const manyKeys = `{${Array.from({ length: 6000 }, (_, i) => `"k${i}":1`).join(",")}}`;
const escapes = `{"name":"${"\\u0041".repeat(10_000)}","priceCents":1,"currency":"EUR"}`;
const surrogates = `{"name":"${"\\ud800".repeat(5000)}","priceCents":1,"currency":"EUR"}`;

/** Each body to each kind of route; `status` is what the api must answer. */
export const NASTY: Nasty[] = [
  { label: "64 KB of nested arrays → create", method: "POST", path: () => "/products", body: deepArrays, admin: false, status: 400 },
  { label: "64 KB of nested objects → patch", method: "PATCH", path: (id) => `/products/${id}`, body: deepObjects, admin: false, status: 400 },
  { label: "64 KB of nested arrays → admin without a token", method: "POST", path: () => "/admin/replay", body: deepArrays, admin: false, status: 401 },
  { label: "64 KB of nested arrays → admin", method: "POST", path: () => "/admin/replay", body: deepArrays, admin: true, status: 400 },
  { label: "6,000 ids and a number → admin", method: "POST", path: () => "/admin/replay", body: wide, admin: true, status: 400 },
  { label: "6,000 keys → replace", method: "PUT", path: (id) => `/products/${id}`, body: manyKeys, admin: false, status: 400 },
  { label: "10,000 escapes → create", method: "POST", path: () => "/products", body: escapes, admin: false, status: 400 },
  { label: "5,000 lone surrogates → create", method: "POST", path: () => "/products", body: surrogates, admin: false, status: 400 },
];
