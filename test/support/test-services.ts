import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { PrismaClient } from '../../src/adapters/postgres/prisma-client.ts';
import { createServices, type BuiltServices, type ServiceOverrides } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import type { DatabaseShape } from './khipu-database.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

export interface TestServices extends BuiltServices {
  database: TestDatabase;
  /** Prisma's client over the app's own pool (db), loaded now: what a test reads and writes rows with. */
  prisma: PrismaClient;
  dispose(): Promise<void>;
}

/** App settings for a test: its own database, its own blob container, on the run's servers. */
export function testSettings(databaseUrl: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: databaseUrl,
    AZURE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
    AZURE_STORAGE_CONTAINER_NAME: `test-${randomBytes(6).toString('hex')}`,
    JWT_SECRET_KEY: `test-secret-${randomBytes(16).toString('hex')}`,
    // Off unless a test turns it on: it adds background syntheses to every default-line audition, which the tests
    // of other things would count (test/functions/predictive-prewarm.test.ts, test/e2e/ and the monitoring test do).
    PREDICTIVE_PREWARM_MAX_VOICES: '0',
    // Projects' own accounts are Azurite's second account here (http, loopback): development's setting. The tests of
    // the deployed rule set it to false (test/functions/hostile-tenant.test.ts, test/domain/project-storage.test.ts).
    PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: 'true',
    ...overrides,
  };
}

/**
 * The app's real services (Prisma on Postgres, Blob on Azurite), isolated for one test file,
 * on a database of our migrations' shape or of the Khipu Cloud API's (`shape`); `ports` replaces some (the clock).
 */
export async function createTestServices(
  overrides: NodeJS.ProcessEnv = {},
  shape: DatabaseShape = 'ours',
  ports: ServiceOverrides = {},
): Promise<TestServices> {
  const database = await createTestDatabase(shape === 'khipu' ? 'khipu' : 'migrated');
  const services = createServices(parseConfig(testSettings(database.url, overrides)), ports);
  return {
    ...services,
    database,
    prisma: await services.db.client(),
    async dispose() {
      await services.close();
      await database.drop();
    },
  };
}
