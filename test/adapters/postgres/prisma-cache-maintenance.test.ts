import { createTestAccount } from '../../support/accounts.ts';
import { noteProjectStore, seedEntry } from '../../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestServices } from '../../support/test-services.ts';
import {
  describeCacheMaintenanceContract,
  type CacheMaintenanceUnderTest,
} from '../../ports/cache-maintenance.contract.ts';
import { describeProjectStoreMaintenanceContract } from '../../ports/project-store-maintenance.contract.ts';
import type { DatabaseShape } from '../../support/khipu-database.ts';
import { PrismaPredictiveRuns } from '../../../src/adapters/postgres/prisma-predictive-runs.ts';

// The same contract as the in-memory twin, on a database of each shape the service runs on.
// Only the Khipu Cloud API's has audio_segment_metadata (the narration's references to audio).
/** PrismaCacheMaintenance over a database of this shape, with what the contracts reach in for. */
async function createPrismaMaintenance(shape: DatabaseShape): Promise<CacheMaintenanceUnderTest> {
  const services = await createTestServices({}, shape);
  const { prisma } = services;
  let projectId: Promise<string> | undefined;
  return {
    maintenance: services.maintenance,
    seed: async ({ writer, tenantId, cacheKey, voiceId, createdAt, lastAccessedAt, expiresAt, path, store }) => {
      const seeded = await seedEntry(services, tenantId, {
        writer,
        blob: false,
        cacheKey,
        ...(voiceId === undefined ? {} : { voiceId }),
        createdAt,
        lastAccessedAt: lastAccessedAt ?? createdAt,
        expiresAt,
      });
      if (path !== undefined)
        await prisma.$executeRaw`UPDATE audio_cache SET audio_blob_path = ${path} WHERE cache_key = ${cacheKey}`;
      if (store) await noteProjectStore(prisma, tenantId, cacheKey, store, createdAt);
      const [row] = await prisma.$queryRaw<
        { id: string }[]
      >`SELECT id::text FROM audio_cache WHERE cache_key = ${cacheKey}`;
      return { id: row!.id, path: path ?? seeded.path };
    },
    deleteRowAsAnotherWriter: async (cacheKey) => {
      await prisma.$executeRaw`DELETE FROM audio_cache WHERE cache_key = ${cacheKey}`;
    },
    addSegmentReference:
      shape === 'khipu'
        ? async (cacheKey) => {
            // A segment belongs to a project (a foreign key); raw_audio_cache_key has none.
            projectId ??= createTestAccount(prisma, 'unused-secret').then((account) => account.projectId);
            await prisma.$executeRaw`
                INSERT INTO audio_segment_metadata (id, project_id, chapter_id, segment_id, raw_audio_cache_key)
                VALUES (gen_random_uuid(), ${await projectId}::uuid, 'chapter-1', ${`segment-${cacheKey.slice(0, 8)}`}, ${cacheKey})`;
          }
        : null,
    keys: async () =>
      (await prisma.$queryRaw<{ cache_key: string }[]>`SELECT cache_key FROM audio_cache`)
        .map((r) => r.cache_key)
        .sort(),
    notedKeys: async () =>
      (await prisma.$queryRaw<{ cache_key: string }[]>`SELECT cache_key FROM audio_cache_auditions`)
        .map((r) => r.cache_key)
        .sort(),
    addUsage: async (tenantId, hour) => {
      await prisma.$executeRaw`INSERT INTO audio_cache_usage (tenant_id, hour, hits) VALUES (${tenantId}::uuid, ${hour}, 1)`;
    },
    usageHours: async () =>
      (
        await prisma.$queryRaw<{ tenant_id: string; hour: Date }[]>`
          SELECT tenant_id::text, hour FROM audio_cache_usage ORDER BY tenant_id, hour`
      ).map(({ tenant_id, hour }) => ({ tenantId: tenant_id, hour })),
    predictiveRuns: new PrismaPredictiveRuns(services.db),
    dispose: async () => {
      await services.dispose();
    },
  };
}

for (const shape of DATABASE_SHAPES) {
  const name = `PrismaCacheMaintenance on Postgres, database shape: ${shape}`;
  describeCacheMaintenanceContract(name, () => createPrismaMaintenance(shape), { segments: shape === 'khipu' });
  describeProjectStoreMaintenanceContract(name, () => createPrismaMaintenance(shape));
}
