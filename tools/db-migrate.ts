// npm run db:migrate: applies prisma/migrations to DATABASE_URL, as `prisma migrate deploy`
// would, on machines where Prisma's native engine cannot be downloaded (see tools/db/).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseDatabaseUrl } from '../src/config.ts';
import { applyMigrations } from './db/migrations.ts';
import { projectRoot } from './project-root.ts';

/** DATABASE_URL from the environment, else from local.settings.json (what `func start` reads). */
async function databaseSettings(): Promise<NodeJS.ProcessEnv> {
  if (process.env.DATABASE_URL) return process.env;
  try {
    const file = await readFile(path.join(projectRoot(), 'local.settings.json'), 'utf8');
    const values = (JSON.parse(file) as { Values?: Record<string, string> }).Values ?? {};
    return { DATABASE_URL: values.DATABASE_URL };
  } catch {
    return process.env;
  }
}

async function main(): Promise<void> {
  const databaseUrl = parseDatabaseUrl(await databaseSettings());
  const applied = await applyMigrations(databaseUrl);
  console.log(
    applied.length > 0
      ? `Applied ${applied.length} migration(s): ${applied.join(', ')}`
      : 'Database schema is up to date: no migration to apply.',
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exitCode = 1;
});
