import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { applyMigrations } from '../../tools/db/migrations.ts';
import { startAzurite } from '../../tools/local-services/azurite.ts';
import { findPgBouncer } from '../../tools/local-services/pgbouncer-binary.ts';
import { startPgBouncer, type RunningPgBouncer } from '../../tools/local-services/pgbouncer.ts';
import { openPostgresServer, quoteIdentifier, withPgClient } from '../../tools/local-services/postgres-server.ts';
import { KHIPU_HEAD_SCHEMA } from './khipu-database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the server's maintenance database: create/drop test databases through it. */
    postgresAdminUrl: string;
    /** A connection URL with `__database__` in place of the database name. */
    postgresUrlTemplate: string;
    /**
     * The same through PgBouncer (transaction pooling, 10 server connections per database);
     * '' where PgBouncer could not be obtained (never under CI=true, where that fails the run).
     */
    pgbouncerUrlTemplate: string;
    /** PgBouncer's admin console (SHOW POOLS…), or ''. */
    pgbouncerAdminUrl: string;
    /** A migrated database that test files clone (CREATE DATABASE … TEMPLATE). */
    templateDatabase: string;
    /** The Khipu Cloud API's database at its head, then migrated (baselined) by us. */
    khipuTemplateDatabase: string;
    /** Every database this run creates starts with this prefix, so teardown finds them all. */
    databasePrefix: string;
    azuriteConnectionString: string;
    /** A second Azurite account, standing for a project's own storage account (settings.creds.storage.azure). */
    azuriteProjectAccount: { accountName: string; accessKey: string; endpoint: string };
  }
}

/** The project's own storage account of the tests: a name and a random key, as Azure generates them. */
const PROJECT_ACCOUNT = { name: 'projectstore', key: randomBytes(64).toString('base64') };

/**
 * Brings up the real services every integration test talks to, once per `npm test` run, and
 * always takes them down again (vitest runs the returned teardown after failures too):
 * - Postgres: the server in DATABASE_URL if set, else an embedded PostgreSQL from npm;
 * - Azurite (Blob), in memory, on a free port;
 * - PgBouncer in transaction mode in front of that Postgres (Debian's package, fetched on first
 *   use: tools/local-services/pgbouncer-binary.ts), for the tests of pooled connections;
 * - a template database migrated by the same code as `npm run db:migrate`, and a second one in the
 *   shape of the Khipu Cloud API's database (json columns, a shared audio_cache), migrated the
 *   same way on top of it.
 */
export default async function setup(project: TestProject) {
  const verbose = process.env.TEST_SERVICES_LOG === '1';
  const log = verbose ? (line: string) => console.log(`[services] ${line}`) : undefined;
  const prefix = `khipu_test_${randomBytes(4).toString('hex')}`;
  const template = `${prefix}_template`;
  const khipuTemplate = `${prefix}_khipu_template`;

  // Start both at once, but keep hold of whichever started even if the other failed.
  const [pgResult, azuriteResult] = await Promise.allSettled([
    openPostgresServer(process.env.DATABASE_URL, { onLog: log }),
    startAzurite({ onLog: log, extraAccounts: [PROJECT_ACCOUNT] }),
  ]);
  const postgres = pgResult.status === 'fulfilled' ? pgResult.value : undefined;
  const azurite = azuriteResult.status === 'fulfilled' ? azuriteResult.value : undefined;
  let pgbouncer: RunningPgBouncer | undefined;
  const teardown = async () => {
    await azurite?.stop();
    await pgbouncer?.stop();
    if (postgres) {
      await dropDatabasesWithPrefix(postgres.adminUrl, prefix).catch((error: unknown) => {
        console.error('test teardown: could not drop test databases', error);
      });
      await postgres.stop();
    }
  };

  try {
    if (!postgres || !azurite) {
      throw [pgResult, azuriteResult].map((r) => (r.status === 'rejected' ? r.reason : undefined)).find(Boolean);
    }
    pgbouncer = await startPooler(postgres.adminUrl, log);
    await withPgClient(postgres.adminUrl, async (client) => {
      await client.query(`CREATE DATABASE ${quoteIdentifier(template)}`);
      await client.query(`CREATE DATABASE ${quoteIdentifier(khipuTemplate)}`);
    });
    await withPgClient(postgres.urlFor(khipuTemplate), (client) => client.query(KHIPU_HEAD_SCHEMA));
    await Promise.all([applyMigrations(postgres.urlFor(template)), applyMigrations(postgres.urlFor(khipuTemplate))]);
    project.provide('postgresAdminUrl', postgres.adminUrl);
    project.provide('postgresUrlTemplate', postgres.urlFor('__database__'));
    project.provide('pgbouncerUrlTemplate', pgbouncer?.urlFor('__database__') ?? '');
    project.provide('pgbouncerAdminUrl', pgbouncer?.adminUrl ?? '');
    project.provide('templateDatabase', template);
    project.provide('khipuTemplateDatabase', khipuTemplate);
    project.provide('databasePrefix', prefix);
    project.provide('azuriteConnectionString', azurite.connectionString);
    const [projectAccount] = azurite.extraAccounts;
    project.provide('azuriteProjectAccount', {
      accountName: projectAccount!.name,
      accessKey: projectAccount!.key,
      endpoint: projectAccount!.serviceUrl,
    });
    return teardown;
  } catch (error) {
    await teardown();
    throw error;
  }
}

/**
 * PgBouncer in front of the server, or none where its binary cannot be had (no apt-get, no
 * network): then the pooled tests are skipped, said once here; under CI=true the run fails.
 */
async function startPooler(serverUrl: string, log?: (line: string) => void): Promise<RunningPgBouncer | undefined> {
  const binary = await findPgBouncer();
  if (!binary.available) {
    if (process.env.CI === 'true') throw new Error(`PgBouncer is required under CI=true: ${binary.reason}`);
    console.log(`test services: no PgBouncer, the tests through it are skipped: ${binary.reason}`);
    return undefined;
  }
  return startPgBouncer({ serverUrl, poolMode: 'transaction', defaultPoolSize: 10, onLog: log });
}

async function dropDatabasesWithPrefix(adminUrl: string, prefix: string): Promise<void> {
  await withPgClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [prefix],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(datname)} WITH (FORCE)`);
    }
  });
}
