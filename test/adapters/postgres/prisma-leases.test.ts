import { PrismaAudioCacheIndex } from '../../../src/adapters/postgres/prisma-audio-cache-index.ts';
import { PrismaLeases } from '../../../src/adapters/postgres/prisma-leases.ts';
import { testDb } from '../../support/required-deps.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
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
  const [mine, theirs] = [testDb(urlOf(services.database.url)), testDb(urlOf(services.database.url))];
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
      await Promise.all([mine.close(), theirs.close()]);
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

describe('a fenced write on a busy pool', () => {
  it('waits for a connection as long as a statement would (DATABASE_TIMEOUT_SECONDS), not Prisma’s 2 s', async () => {
    const services = await createTestServices();
    const db = testDb(services.database.url, { maxConnections: 1, timeoutMs: 5_000 });
    try {
      const leases = new PrismaLeases(db);
      const index = new PrismaAudioCacheIndex(db);
      const prisma = await db.client(); // loaded before the clock of the wait starts
      const tenantId = randomUUID();
      await ensureTestTenant(services.prisma, tenantId);
      const cacheKey = randomBytes(32).toString('hex');
      const grant = (await leases.take(`audition:${cacheKey}`, 60_000))!;
      // The pool's one connection is busy for 3 s (PgBouncer's queue looks the same to the app).
      const busy = prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_sleep(3)`;
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stored = await index.insert(
        {
          tenantId,
          cacheKey,
          text: 'Espera su turno',
          ssml: '<speak/>',
          voiceId: 'es-AR-ElenaNeural',
          voiceSettings: { style: 'none' },
          audioBlobPath: `audio-cache/${tenantId}/${cacheKey}.mp3`,
          audioUrl: `https://storage.test/${cacheKey}.mp3`,
          audioDurationSeconds: 1,
          audioFileSizeBytes: 10,
          createdAt: new Date('2031-01-01T00:00:00Z'),
          expiresAt: new Date('2031-02-01T00:00:00Z'),
        },
        grant,
      );
      await busy;
      expect(stored).toBe(true);
    } finally {
      await db.close();
      await services.dispose();
    }
  });
});
