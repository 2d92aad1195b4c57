// Seeds products straight into the event store with PostgreSQL's generate_series: events and the
// matching snapshot rows (ids p0000001…). Far faster than writing them through the api.
import pg from "pg";

export const seededId = (i: number) => `p${String(i).padStart(7, "0")}`;

export async function seedProducts(databaseUrl: string, products: number, eventsPerProduct = 1): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query(
      `INSERT INTO events (event_id, product_id, version, type, schema_version, data, metadata, occurred_at)
       SELECT gen_random_uuid(), 'p' || lpad(i::text, 7, '0'), v,
              CASE WHEN v = 1 THEN 'ProductCreated' ELSE 'ProductUpdated' END, 1,
              CASE WHEN v = 1 THEN jsonb_build_object('name', 'Product ' || i, 'description', 'seeded for the benchmarks', 'priceCents', 100, 'currency', 'EUR', 'category', 'bench')
                   ELSE jsonb_build_object('priceCents', 100 + v) END,
              '{}', timestamptz '2026-01-01' + v * interval '1 minute'
       FROM generate_series(1, $1::int) AS i, generate_series(1, $2::int) AS v`,
      [products, eventsPerProduct],
    );
    await db.query(
      `INSERT INTO product_snapshots (id, version, deleted, name, description, price_cents, currency, category, created_at, updated_at)
       SELECT 'p' || lpad(i::text, 7, '0'), $2::int, false, 'Product ' || i, 'seeded for the benchmarks',
              CASE WHEN $2::int = 1 THEN 100 ELSE 100 + $2::int END, 'EUR', 'bench',
              timestamptz '2026-01-01' + interval '1 minute', timestamptz '2026-01-01' + $2::int * interval '1 minute'
       FROM generate_series(1, $1::int) AS i`,
      [products, eventsPerProduct],
    );
    await db.query("ANALYZE");
  } finally {
    await db.end();
  }
}
