import { noteProjectStore, seedEntry } from '../../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestServices } from '../../support/test-services.ts';
import { describeCacheStatsReaderContract } from '../../ports/cache-stats.contract.ts';

// The same contract as the in-memory twin, on a database of each shape the service runs on
// (beside the Khipu Cloud API, audio_cache also holds every book's narration).
for (const shape of DATABASE_SHAPES) {
  describeCacheStatsReaderContract(`PrismaCacheStatsReader on Postgres, database shape: ${shape}`, async () => {
    const services = await createTestServices({}, shape);
    const { prisma } = services;
    return {
      stats: services.statsReader,
      seed: async ({
        writer,
        tenantId,
        cacheKey,
        text,
        voiceId,
        sizeBytes,
        hits,
        createdAt,
        lastAccessedAt,
        store,
      }) => {
        await seedEntry(services, tenantId, {
          writer,
          blob: false,
          cacheKey,
          text,
          voiceId,
          ...(sizeBytes === null ? {} : { size: sizeBytes }),
          hits,
          createdAt,
          lastAccessedAt,
          expiresAt: null,
        });
        if (sizeBytes === null)
          await prisma.$executeRaw`UPDATE audio_cache SET audio_file_size_bytes = NULL WHERE cache_key = ${cacheKey}`;
        if (store) await noteProjectStore(prisma, tenantId, cacheKey, store, createdAt);
      },
      registerStore: (tenantId, store) => noteProjectStore(prisma, tenantId, null, store, new Date()),
      addUsage: async (tenantId, hour, { hits, misses, charactersSaved, ...predictive }) => {
        await prisma.$executeRaw`
          INSERT INTO audio_cache_usage (tenant_id, hour, hits, misses, characters_saved,
                                         predictive_syntheses, predictive_characters, predictive_hits)
          VALUES (${tenantId}::uuid, ${hour}, ${hits}, ${misses}, ${charactersSaved},
                  ${predictive.predictiveSyntheses ?? 0}, ${predictive.predictiveCharacters ?? 0},
                  ${predictive.predictiveHits ?? 0})`;
      },
      dispose: () => services.dispose(),
    };
  });
}
