import type {
  CacheStats,
  CacheStatsQuery,
  CacheStatsReader,
  PredictiveQuery,
  PredictiveUsage,
  StoreUsage,
  TenantPredictiveUsage,
  UsageWindow,
} from '../../src/ports/cache-stats.ts';
import { characterCount, hourOf, MemoryCacheDatabase, type UsageHour } from './memory-cache-database.ts';

const DAY_MS = 86_400_000;

/**
 * An in-memory CacheStatsReader: the twin of PrismaCacheStatsReader, over a MemoryCacheDatabase
 * (pass the one a MemoryAudioCacheIndex uses to read the entries it stored and the plays it
 * recorded). Like the SQL, it counts rows of ours only (a row with an ownership note), of the
 * tenant given or of all, and counts characters as Postgres does (code points).
 */
export class MemoryCacheStatsReader implements CacheStatsReader {
  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  read({ tenantId, now, pricePerMillionChars }: CacheStatsQuery): Promise<CacheStats> {
    return this.database.run(() => {
      const ofTenant = (row: { tenantId: string }) => tenantId === undefined || row.tenantId === tenantId;
      const rows = [...this.database.rows.values()].filter(
        (row) => ofTenant(row) && this.database.isOurs(row.cacheKey),
      );
      const day = new Date(now.getTime() - DAY_MS);
      const week = new Date(now.getTime() - 7 * DAY_MS);
      // Usage rows are per hour: a window starts at the hour its first moment falls in.
      const usage = this.database.allUsage().filter((hour) => ofTenant(hour) && hour.hour >= hourOf(week));

      const dollars = (characters: number) => dollarsOf(characters, pricePerMillionChars);
      const window = (since: Date, hours: UsageHour[]): UsageWindow => {
        const hits = sum(hours.map((hour) => hour.hits));
        const misses = sum(hours.map((hour) => hour.misses));
        const charactersSaved = sum(hours.map((hour) => hour.charactersSaved));
        return {
          entriesCreated: rows.filter((row) => row.createdAt >= since).length,
          hits,
          misses,
          hitRatio: hits + misses > 0 ? round(hits / (hits + misses), 4) : null,
          charactersSaved,
          dollarsSaved: dollars(charactersSaved),
          predictive: predictiveOf(hours, pricePerMillionChars),
        };
      };
      const entries = rows.length;
      const totalHits = sum(rows.map((row) => row.hitCount));
      const characters = sum(rows.map((row) => row.hitCount * characterCount(row.text)));
      const last7d = window(week, usage);
      const top = [...rows]
        .sort((a, b) => b.hitCount - a.hitCount || b.lastAccessedAt.getTime() - a.lastAccessedAt.getTime())
        .slice(0, 10);
      return {
        entries,
        totalMb: round(sum(rows.map((row) => row.audioFileSizeBytes ?? 0)) / (1024 * 1024), 2),
        totalHits,
        avgHitsPerEntry: entries > 0 ? round(totalHits / entries, 2) : 0,
        last24h: window(
          day,
          usage.filter((hour) => hour.hour >= hourOf(day)),
        ),
        last7d,
        hitRatio: last7d.hitRatio,
        topEntries: top.map((row) => ({
          voice: row.voiceId,
          text: [...row.text].slice(0, 40).join(''), // left(text, 40): code points
          hits: row.hitCount,
          sizeBytes: row.audioFileSizeBytes ?? 0,
        })),
        savings: { characters, dollars: dollars(characters), pricePerMillionChars },
        projectStores: this.#projectStores(tenantId),
      };
    });
  }

  /** As the SQL: every registered project account (of the tenant given), with our entries there; most first, 100. */
  #projectStores(tenantId: string | undefined): StoreUsage[] {
    const { database } = this;
    return [...database.registry.values()]
      .filter((store) => tenantId === undefined || store.tenantId === tenantId)
      .map(({ tenantId: tenant, storeId, projectId }) => {
        const rows = [...database.rows.values()].filter((row) => {
          const note = database.notes.get(row.cacheKey);
          return row.tenantId === tenant && note?.tenantId === tenant && note.storeId === storeId;
        });
        const sizeBytes = sum(rows.map((row) => row.audioFileSizeBytes ?? 0));
        return { tenantId: tenant, storeId, projectId, entries: rows.length, sizeBytes };
      })
      .sort((a, b) => b.entries - a.entries || order(a.tenantId, b.tenantId) || order(a.storeId, b.storeId))
      .slice(0, 100);
  }

  /** As the SQL: one sum per tenant over the usage hours from the hour 7 days before `now`. */
  predictiveByTenant({ now, pricePerMillionChars, limit }: PredictiveQuery): Promise<TenantPredictiveUsage[]> {
    return this.database.run(() => {
      const week = hourOf(new Date(now.getTime() - 7 * DAY_MS));
      const byTenant = new Map<string, UsageHour[]>();
      for (const hour of this.database.allUsage().filter((usage) => usage.hour >= week))
        byTenant.set(hour.tenantId, [...(byTenant.get(hour.tenantId) ?? []), hour]);
      return [...byTenant]
        .map(([tenantId, hours]) => ({ tenantId, ...predictiveOf(hours, pricePerMillionChars) }))
        .filter((usage) => usage.syntheses > 0 || usage.hits > 0)
        .sort((a, b) => b.characters - a.characters || (a.tenantId < b.tenantId ? -1 : 1))
        .slice(0, limit);
    });
  }
}

function predictiveOf(hours: UsageHour[], pricePerMillionChars: number): PredictiveUsage {
  const characters = sum(hours.map((hour) => hour.predictiveCharacters));
  return {
    syntheses: sum(hours.map((hour) => hour.predictiveSyntheses)),
    characters,
    dollars: dollarsOf(characters, pricePerMillionChars),
    hits: sum(hours.map((hour) => hour.predictiveHits)),
  };
}

function dollarsOf(characters: number, pricePerMillionChars: number): number {
  return round((characters / 1_000_000) * pricePerMillionChars, 4);
}

function order(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
