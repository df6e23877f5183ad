import { isOurEntry } from './ownership-sql.ts';
import type {
  CacheStats,
  CacheStatsQuery,
  CacheStatsReader,
  PredictiveQuery,
  PredictiveUsage,
  StoreUsage,
  TenantPredictiveUsage,
  UsageWindow,
} from '../../ports/cache-stats.ts';
import type { Database } from './prisma-client.ts';
import { sql, type Sql } from './sql.ts';

const HOUR_MS = 3_600_000;

/**
 * The cache's figures (this service's entries only), for one tenant or for all, from aggregate SQL only
 * (never by loading rows): one aggregate over `audio_cache`, one over `audio_cache_usage` (predictive
 * prewarm's figures included), and the top 10.
 * Hits still counted in memory (up to HIT_FLUSH_SECONDS old) are not in them yet.
 */
export class PrismaCacheStatsReader implements CacheStatsReader {
  constructor(private readonly db: Database) {}

  async read({ tenantId, now, pricePerMillionChars }: CacheStatsQuery): Promise<CacheStats> {
    const ofTenant = tenantId ? sql`tenant_id = ${tenantId}::uuid` : sql`TRUE`;
    const day = new Date(now.getTime() - 24 * HOUR_MS);
    const week = new Date(now.getTime() - 7 * 24 * HOUR_MS);
    const [[totals], [usage], top, projectStores] = await Promise.all([
      this.#totals(ofTenant, day, week),
      this.#usage(ofTenant, day, week),
      this.#top(ofTenant),
      this.#projectStores(tenantId),
    ]);

    const dollars = (characters: number) => dollarsOf(characters, pricePerMillionChars);
    const window = (entriesCreated: Count, of: 'day' | 'week') =>
      usageWindow({ entriesCreated, ...usageOf(usage, of) }, pricePerMillionChars);
    const entries = Number(totals?.entries ?? 0);
    const totalHits = Number(totals?.hits ?? 0);
    const last7d = window(totals?.created_week, 'week');
    const characters = Number(totals?.characters ?? 0);
    return {
      entries,
      totalMb: round(Number(totals?.bytes ?? 0) / (1024 * 1024), 2),
      totalHits,
      avgHitsPerEntry: entries > 0 ? round(totalHits / entries, 2) : 0,
      last24h: window(totals?.created_day, 'day'),
      last7d,
      hitRatio: last7d.hitRatio,
      topEntries: top.map((row) => ({
        voice: row.voice_id,
        text: row.text,
        hits: row.hit_count,
        sizeBytes: Number(row.size ?? 0),
      })),
      savings: { characters, dollars: dollars(characters), pricePerMillionChars },
      projectStores,
    };
  }

  /**
   * Our entries in each registered project account (one without any still listed, with 0: the operator sees where
   * the service wrote), most entries first, at most 100.
   */
  async #projectStores(tenantId: string | undefined): Promise<StoreUsage[]> {
    const rows = await this.db.$queryRaw<
      { tenant_id: string; store_id: string; project_id: string; entries: bigint; bytes: bigint }[]
    >`
        SELECT r.tenant_id::text, r.store_id, r.project_id::text, count(c.id) AS entries,
               coalesce(sum(c.audio_file_size_bytes), 0)::bigint AS bytes
          FROM audio_cache_blob_stores AS r
          LEFT JOIN (audio_cache_auditions AS o JOIN audio_cache AS c
                     ON c.cache_key = o.cache_key AND c.tenant_id = o.tenant_id)
            ON o.tenant_id = r.tenant_id AND o.blob_store = r.store_id
         WHERE ${tenantId ?? null}::uuid IS NULL OR r.tenant_id = ${tenantId ?? null}::uuid
         GROUP BY r.tenant_id, r.store_id, r.project_id
         ORDER BY entries DESC, r.tenant_id, r.store_id
         LIMIT 100`;
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      storeId: row.store_id,
      projectId: row.project_id,
      entries: Number(row.entries),
      sizeBytes: Number(row.bytes),
    }));
  }

  /** This service's entries: counts, bytes, plays, characters played, entries created in each window. */
  #totals(ofTenant: Sql, day: Date, week: Date) {
    return this.db.$queryRaw<
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

  /** Each tenant's predictive prewarm over the last 7 days: one aggregate over the hourly usage. */
  async predictiveByTenant({ now, pricePerMillionChars, limit }: PredictiveQuery): Promise<TenantPredictiveUsage[]> {
    const week = hourOf(new Date(now.getTime() - 7 * 24 * HOUR_MS));
    const rows = await this.db.$queryRaw<{ tenant_id: string; syntheses: bigint; characters: bigint; hits: bigint }[]>`
        SELECT tenant_id::text, sum(predictive_syntheses)::bigint AS syntheses,
               sum(predictive_characters)::bigint AS characters, sum(predictive_hits)::bigint AS hits
          FROM audio_cache_usage WHERE hour >= ${week}
         GROUP BY tenant_id
        HAVING sum(predictive_syntheses) > 0 OR sum(predictive_hits) > 0
         ORDER BY characters DESC, tenant_id
         LIMIT ${limit}`;
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      ...predictiveUsage(row.syntheses, row.characters, row.hits, pricePerMillionChars),
    }));
  }

  /** Plays, syntheses, characters saved and predictive prewarm's figures in each window (usage rows are per hour). */
  #usage(ofTenant: Sql, day: Date, week: Date) {
    // A window starts at the hour its first moment falls in.
    const inDay = sql`FILTER (WHERE hour >= ${hourOf(day)})`;
    return this.db.$queryRaw<UsageSums[]>`
        SELECT sum(hits) ${inDay} AS hits_day, sum(misses) ${inDay} AS misses_day,
               sum(characters_saved) ${inDay}::bigint AS chars_day,
               sum(predictive_syntheses) ${inDay} AS p_syntheses_day,
               sum(predictive_characters) ${inDay}::bigint AS p_chars_day,
               sum(predictive_hits) ${inDay} AS p_hits_day,
               sum(hits) AS hits_week, sum(misses) AS misses_week, sum(characters_saved)::bigint AS chars_week,
               sum(predictive_syntheses) AS p_syntheses_week, sum(predictive_characters)::bigint AS p_chars_week,
               sum(predictive_hits) AS p_hits_week
          FROM audio_cache_usage WHERE ${ofTenant} AND hour >= ${hourOf(week)}`;
  }

  /** The ten most played entries. */
  #top(ofTenant: Sql) {
    return this.db.$queryRaw<{ voice_id: string; text: string; hit_count: number; size: bigint | null }[]>`
        SELECT voice_id, left(text, 40) AS text, hit_count, audio_file_size_bytes AS size
          FROM audio_cache AS c WHERE ${ofTenant} AND ${isOurEntry}
         ORDER BY hit_count DESC, last_accessed_at DESC
         LIMIT 10`;
  }
}

/** A count as a query answers it: absent or NULL when no row had one. */
type Count = bigint | null | undefined;

/** The usage aggregate's sums, per window (`_day`, `_week`); `p_`: predictive prewarm's. */
type UsageSums = Record<
  `${'hits' | 'misses' | 'chars' | 'p_syntheses' | 'p_chars' | 'p_hits'}_${'day' | 'week'}`,
  Count
>;

/** The start of the UTC hour holding `date`. */
function hourOf(date: Date): Date {
  return new Date(Math.floor(date.getTime() / HOUR_MS) * HOUR_MS);
}

function usageOf(sums: UsageSums | undefined, of: 'day' | 'week') {
  return {
    hits: sums?.[`hits_${of}`],
    misses: sums?.[`misses_${of}`],
    characters: sums?.[`chars_${of}`],
    predictive: [sums?.[`p_syntheses_${of}`], sums?.[`p_chars_${of}`], sums?.[`p_hits_${of}`]] as const,
  };
}

function dollarsOf(characters: number, pricePerMillionChars: number): number {
  return round((characters / 1_000_000) * pricePerMillionChars, 4);
}

function predictiveUsage(syntheses: Count, characters: Count, hits: Count, price: number): PredictiveUsage {
  const chars = Number(characters ?? 0);
  return {
    syntheses: Number(syntheses ?? 0),
    characters: chars,
    dollars: dollarsOf(chars, price),
    hits: Number(hits ?? 0),
  };
}

function usageWindow(
  counts: {
    entriesCreated: Count;
    hits: Count;
    misses: Count;
    characters: Count;
    predictive: readonly [Count, Count, Count];
  },
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
    predictive: predictiveUsage(...counts.predictive, pricePerMillionChars),
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
