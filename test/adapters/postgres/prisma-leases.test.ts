import { PrismaAudioCacheIndex } from '../../../src/adapters/postgres/prisma-audio-cache-index.ts';
import { PrismaLeases } from '../../../src/adapters/postgres/prisma-leases.ts';
import { createPrismaClient } from '../../../src/adapters/postgres/prisma-client.ts';
import { describe } from 'vitest';
import { ensureTestTenant } from '../../support/accounts.ts';
import { hasPgBouncer, pooledUrlFor } from '../../support/test-database.ts';
import { DATABASE_SHAPES, type DatabaseShape } from '../../support/khipu-database.ts';
import { createTestServices } from '../../support/test-services.ts';
import { describeLeasesContract, type LeasesUnderTest } from '../../ports/leases.contract.ts';

/**
 * PrismaLeases of two instances (each its own Prisma client and pool, as two app instances have) on one database,
 * reached at `urlOf(direct URL)`: the server itself, or a pooler in front of it.
 */
async function createPrismaLeases(shape: DatabaseShape, urlOf = (url: string) => url): Promise<LeasesUnderTest> {
  const services = await createTestServices({}, shape);
  const [mine, theirs] = [
    createPrismaClient(urlOf(services.database.url)),
    createPrismaClient(urlOf(services.database.url)),
  ];
  return {
    first: new PrismaLeases(mine),
    second: new PrismaLeases(theirs),
    index: new PrismaAudioCacheIndex(mine),
    addTenant: (tenantId) => ensureTestTenant(services.prisma, tenantId),
    storedText: async (cacheKey) => {
      const [row] = await services.prisma.$queryRaw<{ text: string }[]>`
        SELECT text FROM audio_cache WHERE cache_key = ${cacheKey}`;
      return row?.text ?? null;
    },
    dispose: async () => {
      await Promise.all([mine.$disconnect(), theirs.$disconnect()]);
      await services.dispose();
    },
  };
}

// Direct, on a database of each shape the service runs on (the fenced writes go to audio_cache, json columns in the
// Khipu Cloud API's).
for (const shape of DATABASE_SHAPES) {
  describeLeasesContract(`PrismaLeases on Postgres, database shape: ${shape}`, () => createPrismaLeases(shape));
}

// Through PgBouncer in transaction mode, as Azure's built-in one: each statement may run on another server connection
// than the last, so nothing may rest on a session (the advisory locks this replaces did).
describe.skipIf(!hasPgBouncer())('through PgBouncer', () => {
  describeLeasesContract('PrismaLeases through PgBouncer (transaction pooling)', () =>
    createPrismaLeases('ours', (url) => pooledUrlFor(new URL(url).pathname.slice(1))),
  );
});
