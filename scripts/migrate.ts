// Migrations without the native schema-engine binary (it cannot be downloaded here): Prisma's
// schema engine compiled to WebAssembly, talking to PostgreSQL through the pg driver adapter.
//   bun scripts/migrate.ts [deploy]     create the database if missing, apply pending migrations
//   bun scripts/migrate.ts create <name> write a migration from the migrations folder to the schema
//   bun scripts/migrate.ts status       list applied / pending migrations
//   bun scripts/migrate.ts rolled-back <name>  mark a failed migration rolled back, so deploy retries it
import "./lib/help.ts"; // --help: print the usage above and exit, before anything else runs
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import * as bg from "@prisma/schema-engine-wasm/schema_engine_bg";
import type { MigrationList, SchemaContainer, SchemaEngine } from "@prisma/schema-engine-wasm/schema_engine_bg";

const root = resolve(import.meta.dir, "..");
const schemaPath = join(root, "prisma/schema.prisma");
const migrationsDir = join(root, "prisma/migrations");
const lockfileName = "migration_lock.toml";
const noFilters = { externalTables: [], externalEnums: [] };
const databaseUrl = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/catalog";

class UserError extends Error {}

// Discrete fields rather than a connectionString, so `{ ...config, database }` really switches
// database: pg lets a connectionString override `database` (PrismaPg's own connectToShadowDb falls
// into that trap and would use the main database as the "shadow").
function pgConfig(url: string, database?: string): pg.PoolConfig {
  const u = new URL(url);
  return {
    host: decodeURIComponent(u.hostname) || "127.0.0.1",
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username) || "postgres",
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database: database ?? (decodeURIComponent(u.pathname.slice(1)) || "postgres"),
    connectionTimeoutMillis: 5000,
  };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function withClient<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function databaseExists(url: string): Promise<boolean> {
  const { database } = pgConfig(url);
  return withClient(pgConfig(url, "postgres"), async (c) =>
    (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [database])).rowCount === 1);
}

async function ensureDatabase(url: string): Promise<void> {
  if (await databaseExists(url)) return;
  const { database } = pgConfig(url);
  await withClient(pgConfig(url, "postgres"), async (c) => {
    try {
      await c.query(`CREATE DATABASE ${quoteIdent(database!)}`);
      console.log(`created database ${database}`);
    } catch (e) {
      if ((e as { code?: string }).code !== "42P04") throw e; // created concurrently: fine
    }
  });
}

function loadMigrations(): MigrationList {
  const dirs = existsSync(migrationsDir)
    ? readdirSync(migrationsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  const lockPath = join(migrationsDir, lockfileName);
  return {
    baseDir: migrationsDir,
    lockfile: { path: lockfileName, content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: dirs.map((path) => {
      const file = join(migrationsDir, path, "migration.sql");
      return {
        path,
        migrationFile: {
          path: "migration.sql",
          content: existsSync(file)
            ? { tag: "ok", value: readFileSync(file, "utf8") }
            : { tag: "error", value: `${file} does not exist` },
        },
      };
    }),
  };
}

const schemaFiles = (): SchemaContainer[] => [{ path: "schema.prisma", content: readFileSync(schemaPath, "utf8") }];

let wasmReady: Promise<void> | undefined;
// The package entry imports the .wasm as an ES module, which Bun rejects; wire it up by hand.
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const wasmPath = fileURLToPath(import.meta.resolve("@prisma/schema-engine-wasm/schema_engine_bg").replace(/\.js$/, ".wasm"));
    // applyMigrations races its advisory lock against a 10 s timer and never clears it; unref'd, the
    // timer no longer holds the process open for 10 s after the work is done (while the engine
    // waits for the lock, the pg socket keeps the process alive).
    const imports: Record<string, Function> = { ...bg };
    for (const key of Object.keys(imports).filter((k) => k.startsWith("__wbg_setTimeout_")))
      imports[key] = (fn: () => void, ms: number) => setTimeout(fn, ms >>> 0).unref();
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), { "./schema_engine_bg.js": imports });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return wasmReady;
}

type Disposable = { dispose(): Promise<void> };

// Idempotent, so both the engine and close() may dispose an adapter.
function disposeOnce<T extends Disposable>(adapter: T, after?: () => Promise<unknown>): T {
  const dispose = adapter.dispose.bind(adapter);
  let done: Promise<void> | undefined;
  adapter.dispose = () => (done ??= dispose().then(async () => void (await after?.())));
  return adapter;
}

// PrismaPg's own connectToShadowDb (7.10.1) issues DROP DATABASE before closing the shadow pool,
// which PostgreSQL refuses ("being accessed by other users") and the shadow database leaks.
async function connectToShadowDb(config: pg.PoolConfig) {
  const name = `prisma_migrate_shadow_db_${crypto.randomUUID()}`;
  await withClient(config, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const adapter = await new PrismaPg({ ...config, database: name }).connect();
  return disposeOnce(adapter, () =>
    withClient(config, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)));
}

// Two fixes to adapter-pg 7.10.1, whose adapter is built for queries rather than migrations:
// - executeScript splits the script on every ";" (so a semicolon in a comment, a string or a $$ body
//   breaks it) and runs the pieces one by one. Send the script whole in one simple-query message
//   instead, which PostgreSQL runs as one implicit transaction, as the native engine does.
// - it has no column type for PostgreSQL's internal "char" (OID 18), which the engine's schema
//   describer reads from pg_catalog, so every diff that inspects a database fails with "Column type
//   'char' could not be deserialized". pg hands those values over as strings: report them as text.
type PgAdapterInternals = {
  client: pg.Pool;
  onError(e: unknown): never;
  executeScript(script: string): Promise<void>;
  performIO(query: unknown): Promise<{ fields: { dataTypeID: number }[] }>;
};
function fixAdapter<T extends object>(adapter: T): T {
  const a = adapter as T & PgAdapterInternals;
  a.executeScript = async (script) => {
    try {
      await a.client.query(script);
    } catch (e) {
      a.onError(e);
    }
  };
  const performIO = a.performIO.bind(a);
  a.performIO = async (query) => {
    const result = await performIO(query);
    for (const f of result.fields) if (f.dataTypeID === 18) f.dataTypeID = 25;
    return result;
  };
  return adapter;
}

// Returns the engine plus a close() that disposes every adapter the engine opened (ending the pg
// pools, dropping any shadow database) without relying on the engine to have done so.
async function openEngine(config: pg.PoolConfig): Promise<{ engine: SchemaEngine; close: () => Promise<void> }> {
  await loadWasm();
  const pgFactory = new PrismaPg(config);
  const opened: Disposable[] = [];
  const track = async <T extends Disposable>(p: Promise<T>) => {
    const adapter = fixAdapter(disposeOnce(await p));
    opened.push(adapter);
    return adapter;
  };
  const factory = bindMigrationAwareSqlAdapterFactory({
    provider: pgFactory.provider,
    adapterName: pgFactory.adapterName,
    connect: () => track(pgFactory.connect()),
    connectToShadowDb: () => track(connectToShadowDb(config)),
  });
  const log = (line: string) => {
    if (process.env.MIGRATE_DEBUG) console.error(line);
  };
  const datamodels = schemaFiles().map((f): [string, string] => [f.path, f.content]);
  const engine = await bg.SchemaEngine.new({ datamodels }, log, factory);
  return {
    engine,
    close: async () => {
      engine.free();
      for (const a of opened.splice(0).reverse()) await a.dispose().catch(() => {});
    },
  };
}

async function withEngine<T>(config: pg.PoolConfig, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const { engine, close } = await openEngine(config);
  try {
    return await fn(engine);
  } finally {
    await close();
  }
}

async function deploy(): Promise<void> {
  await ensureDatabase(databaseUrl);
  const migrationsList = loadMigrations();
  const { appliedMigrationNames } = await withEngine(pgConfig(databaseUrl), (e) =>
    e.applyMigrations({ migrationsList, filters: noFilters }));
  const db = pgConfig(databaseUrl).database;
  if (appliedMigrationNames.length === 0) console.log(`${db}: up to date (${migrationsList.migrationDirectories.length} migrations)`);
  for (const name of appliedMigrationNames) console.log(`${db}: applied ${name}`);
}

async function status(): Promise<void> {
  const migrationsList = loadMigrations();
  const names = migrationsList.migrationDirectories.map((d) => d.path);
  const db = pgConfig(databaseUrl).database;
  if (!(await databaseExists(databaseUrl))) {
    console.log(`${db}: database does not exist`);
    for (const n of names) console.log(`pending  ${n}`);
    return;
  }
  const d = await withEngine(pgConfig(databaseUrl), (e) =>
    e.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: noFilters }));
  const h = d.history;
  const pending = new Set(h && "unappliedMigrationNames" in h ? h.unappliedMigrationNames : []);
  const failed = new Set(d.failedMigrationNames);
  const edited = new Set(d.editedMigrationNames);
  for (const n of names) {
    const state = failed.has(n) ? "failed" : pending.has(n) ? "pending" : edited.has(n) ? "edited" : "applied";
    const hint = state === "failed" ? `  (fix it, then: bun scripts/migrate.ts rolled-back ${n})` : "";
    console.log(`${state.padEnd(8)} ${n}${hint}`);
  }
  if (h && "unpersistedMigrationNames" in h)
    for (const n of h.unpersistedMigrationNames) console.log(`unknown  ${n} (in the database, not in prisma/migrations)`);
  if (!d.hasMigrationsTable) console.log(`${db}: no _prisma_migrations table yet`);
}

// A failed migration blocks deploy (P3009) until marked rolled back, as `prisma migrate resolve
// --rolled-back` would do. Migrations run as one implicit transaction, so there is nothing to undo.
async function rolledBack(migrationName: string | undefined): Promise<void> {
  if (!migrationName) throw new UserError("usage: bun scripts/migrate.ts rolled-back <migration name>");
  await withEngine(pgConfig(databaseUrl), (e) => e.markMigrationRolledBack({ migrationName }));
  console.log(`${pgConfig(databaseUrl).database}: marked ${migrationName} rolled back`);
}

async function create(rawName: string | undefined): Promise<void> {
  const name = (rawName ?? "").replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
  if (!name) throw new UserError("usage: bun scripts/migrate.ts create <name>");
  const migrationsList = loadMigrations();
  const from = migrationsList.migrationDirectories.length
    ? ({ tag: "migrations", ...migrationsList } as const)
    : ({ tag: "empty" } as const);
  // Replaying existing migrations needs a shadow database (created and dropped by
  // connectToShadowDb); connecting via `postgres` means the target database need not exist.
  const { exitCode, stdout } = await withEngine(pgConfig(databaseUrl, "postgres"), (e) =>
    e.diff({ from, to: { tag: "schemaDatamodel", files: schemaFiles() }, script: true, exitCode: true, filters: noFilters }));
  if (exitCode === 0 || !stdout?.trim()) {
    console.log("no changes");
    return;
  }
  const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  const dir = join(migrationsDir, `${stamp}_${name}`);
  if (existsSync(dir)) throw new UserError(`${dir} already exists`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "migration.sql"), stdout);
  const lockPath = join(migrationsDir, lockfileName);
  if (!existsSync(lockPath))
    writeFileSync(lockPath, '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n');
  console.log(`wrote prisma/migrations/${stamp}_${name}/migration.sql`);
}

// pg errors carry a network or SQLSTATE code; engine errors a Prisma code (P3006...) and a message
// that ends in a span trace of engine internals, which is noise here.
function describe(e: unknown): string {
  if (e instanceof UserError) return e.message;
  const err = e as { code?: string; message?: string };
  const unreachable = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT"].includes(err?.code ?? "");
  if (unreachable || /^Can.t reach database server|connection timeout|timeout expired|Connection terminated/i.test(err?.message ?? "")) {
    const { host, port } = pgConfig(databaseUrl);
    return `cannot reach PostgreSQL at ${host}:${port}${unreachable ? ` (${err.code})` : ""}`;
  }
  const message = (err?.message ?? String(e)).split(/\n\s+\d+: \S+::/)[0]!
    .split("\n").map((l) => l.trim()).filter((l) => l && l !== "Error:" && l !== "external connector error").join("\n  ");
  return /^P\d{4}$/.test(err?.code ?? "") ? `${message} [${err.code}]` : message;
}

const [command = "deploy", ...args] = process.argv.slice(2);
const commands: Record<string, () => Promise<void>> = {
  deploy,
  status,
  create: () => create(args[0]),
  "rolled-back": () => rolledBack(args[0]),
};
try {
  const run = commands[command];
  if (!run) throw new UserError(`unknown command "${command}" (deploy | create <name> | status | rolled-back <name>)`);
  await run();
} catch (e) {
  console.error(`migrate ${command}: ${describe(e)}`);
  if (process.env.MIGRATE_DEBUG) console.error(e);
  process.exit(1);
}
