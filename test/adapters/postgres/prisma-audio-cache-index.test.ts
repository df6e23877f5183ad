import { PrismaAudioCacheIndex } from '../../../src/adapters/postgres/prisma-audio-cache-index.ts';
import { ensureTestTenant } from '../../support/accounts.ts';
import { seedEntry } from '../../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestServices } from '../../support/test-services.ts';
import { describeAudioCacheIndexContract } from '../../ports/audio-cache-index.contract.ts';

// The same contract as the in-memory twin, on a database of each shape the service runs on:
// ours (jsonb, defaults) and the Khipu Cloud API's (json, no hit_count default, a tenants key).
for (const shape of DATABASE_SHAPES) {
  describeAudioCacheIndexContract(`PrismaAudioCacheIndex on Postgres, database shape: ${shape}`, async () => {
    const services = await createTestServices({}, shape);
    const { prisma } = services;
    return {
      index: new PrismaAudioCacheIndex(services.db),
      addTenant: (tenantId) => ensureTestTenant(prisma, tenantId),
      putForeignRow: async ({ tenantId, cacheKey, text, createdAt, expiresAt }) => {
        await seedEntry(services, tenantId, {
          writer: 'khipu-api',
          blob: false,
          cacheKey,
          text,
          createdAt,
          lastAccessedAt: createdAt,
          expiresAt,
        });
      },
      deleteRowAsAnotherWriter: async (cacheKey) => {
        await prisma.$executeRaw`DELETE FROM audio_cache WHERE cache_key = ${cacheKey}`;
      },
      row: async (cacheKey) => {
        const [row] = await prisma.$queryRaw<
          {
            tenant_id: string;
            text: string;
            audio_blob_path: string;
            hit_count: number;
            last_accessed_at: Date;
            created_at: Date;
            expires_at: Date | null;
            ours: boolean;
          }[]
        >`
          SELECT c.tenant_id::text, c.text, c.audio_blob_path, c.hit_count, c.last_accessed_at, c.created_at, c.expires_at,
                 EXISTS (SELECT 1 FROM audio_cache_auditions AS o WHERE o.cache_key = c.cache_key) AS ours
            FROM audio_cache AS c WHERE c.cache_key = ${cacheKey}`;
        if (!row) return null;
        return {
          tenantId: row.tenant_id,
          text: row.text,
          audioBlobPath: row.audio_blob_path,
          hitCount: row.hit_count,
          lastAccessedAt: row.last_accessed_at,
          createdAt: row.created_at,
          expiresAt: row.expires_at,
          ours: row.ours,
        };
      },
      usage: async (tenantId) => {
        const rows = await prisma.$queryRaw<
          {
            hour: Date;
            hits: number;
            misses: number;
            characters_saved: bigint;
            predictive_syntheses: number;
            predictive_characters: bigint;
            predictive_hits: number;
          }[]
        >`
          SELECT hour, hits, misses, characters_saved, predictive_syntheses, predictive_characters, predictive_hits
            FROM audio_cache_usage WHERE tenant_id = ${tenantId}::uuid ORDER BY hour`;
        return rows.map((row) => ({
          hour: row.hour,
          hits: row.hits,
          misses: row.misses,
          charactersSaved: Number(row.characters_saved),
          predictiveSyntheses: row.predictive_syntheses,
          predictiveCharacters: Number(row.predictive_characters),
          predictiveHits: row.predictive_hits,
        }));
      },
      note: async (cacheKey) => {
        const [note] = await prisma.$queryRaw<{ storeId: string | null; projectId: string | null }[]>`
          SELECT blob_store AS "storeId", project_id::text AS "projectId"
            FROM audio_cache_auditions WHERE cache_key = ${cacheKey}`;
        return note ?? null;
      },
      registry: () =>
        prisma.$queryRaw<
          { tenantId: string; storeId: string; projectId: string; firstWrittenAt: Date; lastWrittenAt: Date }[]
        >`
          SELECT tenant_id::text AS "tenantId", store_id AS "storeId", project_id::text AS "projectId",
                 first_written_at AS "firstWrittenAt", last_written_at AS "lastWrittenAt"
            FROM audio_cache_blob_stores ORDER BY tenant_id, store_id`,
      dispose: () => services.dispose(),
    };
  });
}
