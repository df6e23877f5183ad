import pg from 'pg';
import type { PrismaClient } from '../db/prisma-client.ts';
import { CacheStatsReader, type CacheStats } from '../stats/cache-stats.ts';
import type { CacheMaintenance } from './cache-maintenance.ts';

// One lock for every instance and manual run, namespaced so no other user of the database
// collides with it by accident.
const LOCK_NAME = 'khipu:audio-cache-cleanup';

/**
 * CacheMaintenance in SQL through Prisma. Every delete is one bounded statement
 * (`… LIMIT n`, committed on its own), so no statement or transaction grows with the table
 * and the caller never holds more than one batch of paths.
 */
export class PrismaCacheMaintenance implements CacheMaintenance {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly databaseUrl: string,
    /** For the savings in the stats the pass logs (TTS_PRICE_PER_MILLION_CHARS). */
    private readonly pricePerMillionChars: number,
  ) {}

  async withExclusiveLock<T>(work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    // A session-level advisory lock on a connection of its own: Prisma's pool would hand the
    // unlock to another session. If this process dies, the connection and the lock go with it.
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {}); // a dropped lock connection must not crash the process
    await client.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [LOCK_NAME]);
      if (!rows[0]?.locked) return { ran: false };
      try {
        return { ran: true, value: await work() };
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [LOCK_NAME]).catch(() => {});
      }
    } finally {
      await client.end().catch(() => {});
    }
  }

  async deleteExpired(now: Date, limit: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ path: string }[]>`
      DELETE FROM audio_cache
       WHERE id IN (SELECT id FROM audio_cache WHERE expires_at < ${now} ORDER BY expires_at LIMIT ${limit})
      RETURNING audio_blob_path AS path`;
    return rows.map((row) => row.path);
  }

  async tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]> {
    const rows = await this.prisma.$queryRaw<{ tenant_id: string; entries: bigint }[]>`
      SELECT tenant_id::text, count(*) AS entries FROM audio_cache
       GROUP BY tenant_id HAVING count(*) > ${maxEntries}
       ORDER BY tenant_id`;
    return rows.map((row) => ({ tenantId: row.tenant_id, entries: Number(row.entries) }));
  }

  async deleteLeastRecentlyUsed(tenantId: string, keep: number, limit: number): Promise<string[]> {
    // Ranked afresh by each batch, so entries added or played meanwhile are counted right.
    const rows = await this.prisma.$queryRaw<{ path: string }[]>`
      DELETE FROM audio_cache
       WHERE id IN (
         SELECT id FROM audio_cache WHERE tenant_id = ${tenantId}::uuid
          ORDER BY last_accessed_at DESC, id DESC
         OFFSET ${keep} LIMIT ${limit})
      RETURNING audio_blob_path AS path`;
    return rows.map((row) => row.path);
  }

  async deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ path: string }[]>`
      DELETE FROM audio_cache
       WHERE id IN (
         SELECT id FROM audio_cache
          WHERE tenant_id = ${tenantId}::uuid AND (${voiceId ?? null}::text IS NULL OR voice_id = ${voiceId ?? null}::text)
          LIMIT ${limit})
      RETURNING audio_blob_path AS path`;
    return rows.map((row) => row.path);
  }

  async deleteUsageBefore(before: Date): Promise<number> {
    return this.prisma.$executeRaw`DELETE FROM audio_cache_usage WHERE hour < ${before}`;
  }

  async findExistingKeys(cacheKeys: readonly string[]): Promise<Set<string>> {
    if (cacheKeys.length === 0) return new Set();
    const rows = await this.prisma.$queryRaw<{ cache_key: string }[]>`
      SELECT cache_key FROM audio_cache WHERE cache_key = ANY(${[...cacheKeys]}::text[])`;
    return new Set(rows.map((row) => row.cache_key));
  }

  stats(now: Date): Promise<CacheStats> {
    return new CacheStatsReader(this.prisma).read({ now, pricePerMillionChars: this.pricePerMillionChars });
  }
}
