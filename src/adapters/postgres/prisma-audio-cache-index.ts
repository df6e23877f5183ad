import type { PrismaClient } from './prisma-client.ts';
import { retryIfConnectionLost } from './connect-retry.ts';
import { isOurEntry } from './ownership-sql.ts';
import type { AudioCacheIndex, CacheEntry, HitBatch, MissBatch, NewCacheEntry } from '../../ports/audio-cache-index.ts';

/** Keys per UPDATE when hit counts are written (one round trip each). */
const HIT_BATCH_SIZE = 1_000;

/**
 * AudioCacheIndex over the `audio_cache` table through Prisma. `find`, `insert` and `replace`
 * are idempotent, so each is retried once when its connection dies under it (a restart):
 * a lookup in flight then still answers, and synthesized audio is still stored. Hit and miss
 * counts are not retried (they add; a lost batch of counts is the lesser harm).
 */
export class PrismaAudioCacheIndex implements AudioCacheIndex {
  constructor(private readonly prisma: PrismaClient) {}

  find(cacheKey: string): Promise<CacheEntry | null> {
    return retryIfConnectionLost(() =>
      this.prisma.audioCache.findUnique({
        where: { cacheKey },
        select: {
          id: true,
          tenantId: true,
          cacheKey: true,
          audioBlobPath: true,
          audioDurationSeconds: true,
          expiresAt: true,
        },
      }),
    );
  }

  async recordHits(batch: HitBatch): Promise<string[]> {
    // One statement per batch (Prisma's updateMany cannot add a different amount per row).
    const counted = new Set<string>();
    for (let start = 0; start < batch.length; start += HIT_BATCH_SIZE) {
      const part = batch.slice(start, start + HIT_BATCH_SIZE);
      // One statement: the entries' counts, and their tenants' hourly usage (a play of a
      // cached line saves synthesizing its characters), so the two never disagree.
      const rows = await this.prisma.$queryRaw<{ cache_key: string }[]>`
        WITH v AS (
          SELECT * FROM unnest(${part.map((h) => h.cacheKey)}::text[],
                               ${part.map((h) => h.hits)}::int[],
                               ${part.map((h) => h.lastAccessedAt.toISOString())}::timestamptz[])
                     AS v(cache_key, hits, at)
        ), played AS (
          UPDATE audio_cache AS c
             SET hit_count = c.hit_count + v.hits,
                 last_accessed_at = GREATEST(c.last_accessed_at, v.at)
            FROM v
           WHERE c.cache_key = v.cache_key
          RETURNING c.cache_key, c.tenant_id, v.hits, v.at, char_length(c.text) AS chars
        ), usage AS (
          INSERT INTO audio_cache_usage AS u (tenant_id, hour, hits, characters_saved)
          SELECT tenant_id, date_trunc('hour', at, 'UTC'), sum(hits), sum(hits::bigint * chars)
            FROM played GROUP BY 1, 2
          ON CONFLICT (tenant_id, hour) DO UPDATE
             SET hits = u.hits + excluded.hits, characters_saved = u.characters_saved + excluded.characters_saved
        )
        SELECT cache_key FROM played`;
      for (const row of rows) counted.add(row.cache_key);
    }
    return batch.filter((hit) => !counted.has(hit.cacheKey)).map((hit) => hit.cacheKey);
  }

  async recordMisses(batch: MissBatch): Promise<void> {
    if (batch.length === 0) return;
    await this.prisma.$executeRaw`
      INSERT INTO audio_cache_usage AS u (tenant_id, hour, misses)
      SELECT * FROM unnest(${batch.map((m) => m.tenantId)}::uuid[],
                           ${batch.map((m) => m.hour.toISOString())}::timestamptz[],
                           ${batch.map((m) => m.misses)}::int[])
      ON CONFLICT (tenant_id, hour) DO UPDATE SET misses = u.misses + excluded.misses`;
  }

  async insert(entry: NewCacheEntry): Promise<boolean> {
    // One statement: the row, and the note that this service wrote it (the only rows the
    // cleanup, purge and stats ever act on). ON CONFLICT DO NOTHING: two instances that missed
    // at once both end up here, and the loser's conflict is not an error (same key, same
    // audio); a row under the key that is not ours is never claimed. Every column is given:
    // the Khipu database's audio_cache has no hit_count default, and voice_settings there is
    // json, not jsonb (the untyped parameter takes the column's type).
    // Retried once if the connection dies: had the first attempt committed, the second finds
    // the key taken and answers false, which the caller handles as "stored already".
    const rows = await retryIfConnectionLost(
      () => this.prisma.$queryRaw<{ cache_key: string }[]>`
      WITH stored AS (
        INSERT INTO audio_cache (id, tenant_id, cache_key, text, ssml, voice_id, voice_settings,
                                 audio_blob_path, audio_url, audio_duration_seconds, audio_file_size_bytes,
                                 hit_count, last_accessed_at, created_at, expires_at)
        VALUES (gen_random_uuid(), ${entry.tenantId}::uuid, ${entry.cacheKey}, ${entry.text}, ${entry.ssml},
                ${entry.voiceId}, ${JSON.stringify(entry.voiceSettings)}, ${entry.audioBlobPath}, ${entry.audioUrl},
                ${entry.audioDurationSeconds}, ${entry.audioFileSizeBytes}, 0, ${entry.createdAt}, ${entry.createdAt},
                ${entry.expiresAt})
        ON CONFLICT (cache_key) DO NOTHING
        RETURNING cache_key, tenant_id, created_at
      ), ours AS (
        INSERT INTO audio_cache_auditions (cache_key, tenant_id, created_at)
        SELECT cache_key, tenant_id, created_at FROM stored
        ON CONFLICT (cache_key) DO NOTHING
      )
      SELECT cache_key FROM stored`,
    );
    return rows.length === 1;
  }

  async replace(entry: NewCacheEntry): Promise<void> {
    // Only a row of ours is overwritten (an expired one, or one whose blob was lost).
    await retryIfConnectionLost(
      () => this.prisma.$executeRaw`
      UPDATE audio_cache AS c
         SET tenant_id = ${entry.tenantId}::uuid, text = ${entry.text}, ssml = ${entry.ssml},
             voice_id = ${entry.voiceId},
             voice_settings = ${JSON.stringify(entry.voiceSettings)}, audio_blob_path = ${entry.audioBlobPath},
             audio_url = ${entry.audioUrl}, audio_duration_seconds = ${entry.audioDurationSeconds},
             audio_file_size_bytes = ${entry.audioFileSizeBytes}, hit_count = 0,
             last_accessed_at = ${entry.createdAt}, created_at = ${entry.createdAt}, expires_at = ${entry.expiresAt}
       WHERE c.cache_key = ${entry.cacheKey} AND ${isOurEntry}`,
    );
  }
}
