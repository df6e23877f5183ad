import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm' with { 'resolution-mode': 'import' };
import type { Pool } from 'pg';
import { projectRoot } from '../project-root.ts';
import { withSchemaEngine } from './schema-engine.ts';

export const PRISMA_DIR = path.join(projectRoot(), 'prisma');
export const MIGRATIONS_DIR = path.join(PRISMA_DIR, 'migrations');
export const SCHEMA_PATH = path.join(PRISMA_DIR, 'schema.prisma');

/** Reads the committed migrations the way `prisma migrate deploy` does: one folder each, sorted by name. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true });
  const folders = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const lockfile = await readFile(path.join(dir, 'migration_lock.toml'), 'utf8').catch(() => null);
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      folders.map(async (folder) => {
        const file = path.join(dir, folder, 'migration.sql');
        const content = await readFile(file, 'utf8').then(
          (sql) => ({ tag: 'ok' as const, value: sql }),
          (error: NodeJS.ErrnoException) => ({ tag: 'error' as const, value: error.message }),
        );
        return { path: folder, migrationFile: { path: 'migration.sql', content } };
      }),
    ),
  };
}

/**
 * Applies every committed migration not yet applied to `databaseUrl` and returns the names of
 * those it applied (none on a second run). This is the engine call `prisma migrate deploy`
 * makes, with the same inputs, so `_prisma_migrations` ends up exactly as the CLI leaves it
 * and the standard CLI can take over wherever its engine can be downloaded.
 *
 * One addition: `migrate deploy` refuses a database that has tables but no migration history
 * (P3005), which is what the Khipu Cloud API's database looks like to us. Prisma's answer is
 * baselining; here that is done the way an operator would with the CLI (`prisma db execute`
 * of the first migration, which is written to be a no-op for whatever already exists, then
 * `prisma migrate resolve --applied` of it), after which the remaining migrations apply as usual.
 */
export async function applyMigrations(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrationsList = await readMigrations(dir);
  const schema = { path: SCHEMA_PATH, content: await readFile(SCHEMA_PATH, 'utf8') };
  return withSchemaEngine(databaseUrl, schema, async (engine, pool) => {
    const baselined: string[] = [];
    const first = migrationsList.migrationDirectories[0];
    if (first && (await hasTablesButNoHistory(pool))) {
      if (first.migrationFile.content.tag !== 'ok') throw new Error(first.migrationFile.content.value);
      await pool.query(first.migrationFile.content.value);
      await engine.markMigrationApplied({ migrationName: first.path, migrationsList });
      baselined.push(first.path);
    }
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList,
      filters: { externalTables: [], externalEnums: [] },
    });
    return [...baselined, ...appliedMigrationNames];
  });
}

async function hasTablesButNoHistory(pool: Pool): Promise<boolean> {
  const { rows } = await pool.query<{ history: boolean; tables: boolean }>(`
    SELECT to_regclass('_prisma_migrations') IS NOT NULL AS history,
           EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()) AS tables`);
  return !rows[0]!.history && rows[0]!.tables;
}
