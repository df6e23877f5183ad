import type { PrismaClient } from '../db/prisma-client.ts';
import type { AudioCacheIndex, CacheEntry, NewCacheEntry } from './audio-cache-index.ts';

/** AudioCacheIndex over the `audio_cache` table through Prisma. */
export class PrismaAudioCacheIndex implements AudioCacheIndex {
  constructor(private readonly prisma: PrismaClient) {}

  find(cacheKey: string): Promise<CacheEntry | null> {
    return this.prisma.audioCache.findUnique({
      where: { cacheKey },
      select: { id: true, tenantId: true, cacheKey: true, audioBlobPath: true, audioDurationSeconds: true, expiresAt: true },
    });
  }

  async recordHit(id: string, at: Date): Promise<void> {
    await this.prisma.audioCache.updateMany({
      where: { id },
      data: { hitCount: { increment: 1 }, lastAccessedAt: at },
    });
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
