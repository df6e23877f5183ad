import { Prisma } from '../../generated/prisma/client.ts';
import { isOurEntry } from './ownership-sql.ts';
import type { CacheStats, CacheStatsReader, UsageWindow } from '../../ports/cache-stats.ts';
import type { PrismaClient } from './prisma-client.ts';

const HOUR_MS = 3_600_000;

/**
 * The cache's figures (this service's entries only), for one tenant or for all, from aggregate SQL only
 * (never by loading rows): one aggregate over `audio_cache`, one over `audio_cache_usage`, and the top 10.
 * Hits still counted in memory (up to HIT_FLUSH_SECONDS old) are not in them yet.
 */
export class PrismaCacheStatsReader implements CacheStatsReader {
  constructor(private readonly prisma: PrismaClient) {}

  async read({
    tenantId,
    now,
    pricePerMillionChars,
  }: {
    tenantId?: string;
    now: Date;
    pricePerMillionChars: number;
  }): Promise<CacheStats> {
    const ofTenant = tenantId ? Prisma.sql`tenant_id = ${tenantId}::uuid` : Prisma.sql`TRUE`;
    const day = new Date(now.getTime() - 24 * HOUR_MS);
    const week = new Date(now.getTime() - 7 * 24 * HOUR_MS);
    const [[totals], [usage], top] = await Promise.all([
      this.#totals(ofTenant, day, week),
      this.#usage(ofTenant, day, week),
      this.#top(ofTenant),
    ]);

    const dollars = (characters: number) => dollarsOf(characters, pricePerMillionChars);
    const window = (entriesCreated: Count, hits: Count, misses: Count, characters: Count) =>
      usageWindow({ entriesCreated, hits, misses, characters }, pricePerMillionChars);
    const entries = Number(totals?.entries ?? 0);
    const totalHits = Number(totals?.hits ?? 0);
    const last7d = window(totals?.created_week, usage?.hits_week, usage?.misses_week, usage?.chars_week);
    const characters = Number(totals?.characters ?? 0);
    return {
      entries,
      totalMb: round(Number(totals?.bytes ?? 0) / (1024 * 1024), 2),
      totalHits,
      avgHitsPerEntry: entries > 0 ? round(totalHits / entries, 2) : 0,
      last24h: window(totals?.created_day, usage?.hits_day, usage?.misses_day, usage?.chars_day),
      last7d,
      hitRatio: last7d.hitRatio,
      topEntries: top.map((row) => ({
        voice: row.voice_id,
        text: row.text,
        hits: row.hit_count,
        sizeBytes: Number(row.size ?? 0),
      })),
      savings: { characters, dollars: dollars(characters), pricePerMillionChars },
    };
  }

  /** This service's entries: counts, bytes, plays, characters played, entries created in each window. */
  #totals(ofTenant: Prisma.Sql, day: Date, week: Date) {
    return this.prisma.$queryRaw<
      {
        entries: bigint;
        bytes: bigint | null;
        hits: bigint | null;
        characters: bigint | null;
        created_day: bigint;
        created_week: bigint;
      }[]
    >`
        SELECT count(*) AS entries,
               sum(audio_file_size_bytes)::bigint AS bytes,
               sum(hit_count)::bigint AS hits,
               sum(hit_count::bigint * char_length(text))::bigint AS characters,
               count(*) FILTER (WHERE created_at >= ${day}) AS created_day,
               count(*) FILTER (WHERE created_at >= ${week}) AS created_week
          FROM audio_cache AS c WHERE ${ofTenant} AND ${isOurEntry}`;
  }

  /** Plays, syntheses and characters saved in each window (usage rows are per hour). */
  #usage(ofTenant: Prisma.Sql, day: Date, week: Date) {
    // A window starts at the hour its first moment falls in.
    const hourOf = (date: Date) => new Date(Math.floor(date.getTime() / HOUR_MS) * HOUR_MS);
    return this.prisma.$queryRaw<
      {
        hits_day: bigint | null;
        misses_day: bigint | null;
        chars_day: bigint | null;
        hits_week: bigint | null;
        misses_week: bigint | null;
        chars_week: bigint | null;
      }[]
    >`
        SELECT sum(hits) FILTER (WHERE hour >= ${hourOf(day)}) AS hits_day,
               sum(misses) FILTER (WHERE hour >= ${hourOf(day)}) AS misses_day,
               sum(characters_saved) FILTER (WHERE hour >= ${hourOf(day)})::bigint AS chars_day,
               sum(hits) AS hits_week, sum(misses) AS misses_week, sum(characters_saved)::bigint AS chars_week
          FROM audio_cache_usage WHERE ${ofTenant} AND hour >= ${hourOf(week)}`;
  }

  /** The ten most played entries. */
  #top(ofTenant: Prisma.Sql) {
    return this.prisma.$queryRaw<{ voice_id: string; text: string; hit_count: number; size: bigint | null }[]>`
        SELECT voice_id, left(text, 40) AS text, hit_count, audio_file_size_bytes AS size
          FROM audio_cache AS c WHERE ${ofTenant} AND ${isOurEntry}
         ORDER BY hit_count DESC, last_accessed_at DESC
         LIMIT 10`;
  }
}

/** A count as a query answers it: absent or NULL when no row had one. */
type Count = bigint | null | undefined;

function dollarsOf(characters: number, pricePerMillionChars: number): number {
  return round((characters / 1_000_000) * pricePerMillionChars, 4);
}

function usageWindow(
  counts: { entriesCreated: Count; hits: Count; misses: Count; characters: Count },
  pricePerMillionChars: number,
): UsageWindow {
  const hits = Number(counts.hits ?? 0);
  const misses = Number(counts.misses ?? 0);
  const characters = Number(counts.characters ?? 0);
  return {
    entriesCreated: Number(counts.entriesCreated ?? 0),
    hits,
    misses,
    hitRatio: hits + misses > 0 ? round(hits / (hits + misses), 4) : null,
    charactersSaved: characters,
    dollarsSaved: dollarsOf(characters, pricePerMillionChars),
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
