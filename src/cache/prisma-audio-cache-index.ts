import type { PrismaClient } from '../db/prisma-client.ts';
import type { AudioCacheIndex, CacheEntry, HitBatch, MissBatch, NewCacheEntry } from './audio-cache-index.ts';

/** Keys per UPDATE when hit counts are written (one round trip each). */
const HIT_BATCH_SIZE = 1_000;

/** AudioCacheIndex over the `audio_cache` table through Prisma. */
export class PrismaAudioCacheIndex implements AudioCacheIndex {
  constructor(private readonly prisma: PrismaClient) {}

  find(cacheKey: string): Promise<CacheEntry | null> {
    return this.prisma.audioCache.findUnique({
      where: { cacheKey },
      select: { id: true, tenantId: true, cacheKey: true, audioBlobPath: true, audioDurationSeconds: true, expiresAt: true },
    });
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
          SELECT * FROM unnest(${part.map((h) => h.cacheKey)}::text[], ${part.map((h) => h.hits)}::int[],
                               ${part.map((h) => h.lastAccessedAt.toISOString())}::timestamptz[]) AS v(cache_key, hits, at)
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
      SELECT * FROM unnest(${batch.map((m) => m.tenantId)}::uuid[], ${batch.map((m) => m.hour.toISOString())}::timestamptz[],
                           ${batch.map((m) => m.misses)}::int[])
      ON CONFLICT (tenant_id, hour) DO UPDATE SET misses = u.misses + excluded.misses`;
  }

  async insert(entry: NewCacheEntry): Promise<boolean> {
    // INSERT … ON CONFLICT DO NOTHING: two instances that missed at once both end up here,
    // and the loser's conflict is not an error (the audio under the key is the same).
    const { count } = await this.prisma.audioCache.createMany({ data: [toRow(entry)], skipDuplicates: true });
    return count === 1;
  }

  async replace(entry: NewCacheEntry): Promise<void> {
    const row = toRow(entry);
    await this.prisma.audioCache.upsert({
      where: { cacheKey: entry.cacheKey },
      create: row,
      update: { ...row, hitCount: 0 },
    });
  }
}

function toRow(entry: NewCacheEntry) {
  return {
    tenantId: entry.tenantId,
    cacheKey: entry.cacheKey,
    text: entry.text,
    ssml: entry.ssml,
    voiceId: entry.voiceId,
    voiceSettings: entry.voiceSettings,
    audioBlobPath: entry.audioBlobPath,
    audioUrl: entry.audioUrl,
    audioDurationSeconds: entry.audioDurationSeconds,
    audioFileSizeBytes: BigInt(entry.audioFileSizeBytes),
    createdAt: entry.createdAt,
    lastAccessedAt: entry.createdAt,
    expiresAt: entry.expiresAt,
  };
}
