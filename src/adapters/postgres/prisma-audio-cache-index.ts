import { runSql, type Database } from './prisma-client.ts';
import { retryIfConnectionLost } from './connect-retry.ts';
import { isOurEntry } from './ownership-sql.ts';
import type { AudioCacheIndex, CacheEntry, HitBatch, MissBatch, NewCacheEntry } from '../../ports/audio-cache-index.ts';
import { LeaseLostError, type LeaseGrant } from '../../ports/leases.ts';
import { fenceOf } from './prisma-leases.ts';
import { sql, type Sql } from './sql.ts';

/** SQL: an entry by its key, as CacheEntry (the ids as text, the duration a double, the expiry a Date). */
const FIND_ENTRY = `
  SELECT c.id::text AS id, c.tenant_id::text AS "tenantId", c.cache_key AS "cacheKey",
         c.audio_blob_path AS "audioBlobPath", c.audio_duration_seconds AS "audioDurationSeconds",
         c.expires_at AS "expiresAt", o.blob_store AS "storeId"
    FROM audio_cache AS c LEFT JOIN audio_cache_auditions AS o ON o.cache_key = c.cache_key
   WHERE c.cache_key = $1`;

/** Keys per UPDATE when hit counts are written (one round trip each). */
const HIT_BATCH_SIZE = 1_000;

/**
 * SQL: the upsert that adds predictive prewarm's syntheses to the tenant's hourly usage, written around a
 * SELECT of (tenant_id, hour, syntheses, characters): `spendInsert` before it, `spendAdded` after it.
 */
const spendInsert = sql`
  INSERT INTO audio_cache_usage AS u (tenant_id, hour, predictive_syntheses, predictive_characters)`;
const spendAdded = sql`
  ON CONFLICT (tenant_id, hour) DO UPDATE
     SET predictive_syntheses = u.predictive_syntheses + excluded.predictive_syntheses,
         predictive_characters = u.predictive_characters + excluded.predictive_characters`;

/** The entry's project account and project, both null for the operator's account. */
function storeOf(entry: NewCacheEntry): { storeId: string | null; projectId: string | null } {
  return { storeId: entry.store?.storeId ?? null, projectId: entry.store?.projectId ?? null };
}

/**
 * SQL: the CTE `registered`, which registers the project account (audio_cache_blob_stores) for the tenant of the
 * entry the CTE `stored` (tenant_id, created_at) holds, if any: the last writer's project, the latest write. Nothing
 * for the operator's account (`storeId` null).
 */
function registerStore(storeId: string | null, projectId: string | null): Sql {
  return sql`registered AS (
        INSERT INTO audio_cache_blob_stores AS r (tenant_id, store_id, project_id, first_written_at, last_written_at)
        SELECT tenant_id, ${storeId}::text, ${projectId}::uuid, created_at, created_at FROM stored
         WHERE ${storeId}::text IS NOT NULL
        ON CONFLICT (tenant_id, store_id) DO UPDATE
           SET project_id = excluded.project_id, last_written_at = GREATEST(r.last_written_at, excluded.last_written_at)
      )`;
}

/**
 * AudioCacheIndex over the `audio_cache` table through Prisma. `find`, `insert` and `replace`
 * are idempotent, so each is retried once when its connection dies under it (a restart):
 * a lookup in flight then still answers, and synthesized audio is still stored. Hit and miss
 * counts are not retried (they add; a lost batch of counts is the lesser harm).
 */
export class PrismaAudioCacheIndex implements AudioCacheIndex {
  constructor(private readonly db: Database) {}

  async find(cacheKey: string): Promise<CacheEntry | null> {
    // The row and, from its ownership note (none for another writer's row), the account its blob is in. Straight
    // through the pool (Database.pool): an unnamed statement, as Prisma sends them, so PgBouncer's transaction mode
    // takes it too.
    const { rows } = await retryIfConnectionLost(() => this.db.pool.query<CacheEntry>(FIND_ENTRY, [cacheKey]));
    return rows[0] ?? null;
  }

  async recordHits(batch: HitBatch): Promise<string[]> {
    // One statement per batch (Prisma's updateMany cannot add a different amount per row).
    const counted = new Set<string>();
    for (let start = 0; start < batch.length; start += HIT_BATCH_SIZE) {
      const part = batch.slice(start, start + HIT_BATCH_SIZE);
      // One statement: the entries' counts, and their tenants' hourly usage (a play of a
      // cached line saves synthesizing its characters; a play of an entry predictive prewarm
      // stored is also its return), so the two never disagree.
      const rows = await this.db.$queryRaw<{ cache_key: string }[]>`
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
          RETURNING c.cache_key, c.tenant_id, v.hits, v.at, char_length(c.text) AS chars,
                    EXISTS (SELECT 1 FROM audio_cache_auditions AS o
                             WHERE o.cache_key = c.cache_key AND o.predictive) AS predictive
        ), usage AS (
          INSERT INTO audio_cache_usage AS u (tenant_id, hour, hits, characters_saved, predictive_hits)
          SELECT tenant_id, date_trunc('hour', at, 'UTC'), sum(hits), sum(hits::bigint * chars),
                 coalesce(sum(hits) FILTER (WHERE predictive), 0)
            FROM played GROUP BY 1, 2
          ON CONFLICT (tenant_id, hour) DO UPDATE
             SET hits = u.hits + excluded.hits, characters_saved = u.characters_saved + excluded.characters_saved,
                 predictive_hits = u.predictive_hits + excluded.predictive_hits
        )
        SELECT cache_key FROM played`;
      for (const row of rows) counted.add(row.cache_key);
    }
    return batch.filter((hit) => !counted.has(hit.cacheKey)).map((hit) => hit.cacheKey);
  }

  async recordMisses(batch: MissBatch): Promise<void> {
    if (batch.length === 0) return;
    await this.db.$executeRaw`
      INSERT INTO audio_cache_usage AS u (tenant_id, hour, misses)
      SELECT * FROM unnest(${batch.map((m) => m.tenantId)}::uuid[],
                           ${batch.map((m) => m.hour.toISOString())}::timestamptz[],
                           ${batch.map((m) => m.misses)}::int[])
      ON CONFLICT (tenant_id, hour) DO UPDATE SET misses = u.misses + excluded.misses`;
  }

  async insert(entry: NewCacheEntry, fence?: LeaseGrant): Promise<boolean> {
    // One statement: the row, the note that this service wrote it (the only rows the cleanup,
    // purge and stats ever act on) and, for predictive prewarm, its spend in the tenant's usage
    // for the hour, so none is counted for a row not stored. ON CONFLICT DO NOTHING: two
    // instances that missed at once both end up here, and the loser's conflict is not an error
    // (same key, same audio); a row under the key that is not ours is never claimed. Every
    // column is given: the Khipu database's audio_cache has no hit_count default, and
    // voice_settings there is json, not jsonb (the untyped parameter takes the column's type).
    // A note left behind by a row another writer deleted takes the new row's `predictive`.
    // Retried once if the connection dies: had the first attempt committed, the second finds
    // the key taken and answers false (counting nothing), which the caller handles as "stored already".
    // In a project's own account, the note records it and the account is registered for the cleanup.
    const predictive = entry.predictive ?? false;
    const { storeId, projectId } = storeOf(entry);
    // Fenced, the row is written only while `gate` holds the writer's lease row, locked until the statement commits.
    const { rows } = await retryIfConnectionLost(() =>
      runSql<{ held: number; cache_key: string | null }>(
        this.db.pool,
        sql`
      WITH ${gateOf(fence)}, stored AS (
        INSERT INTO audio_cache (id, tenant_id, cache_key, text, ssml, voice_id, voice_settings,
                                 audio_blob_path, audio_url, audio_duration_seconds, audio_file_size_bytes,
                                 hit_count, last_accessed_at, created_at, expires_at)
        SELECT gen_random_uuid(), ${entry.tenantId}::uuid, ${entry.cacheKey}, ${entry.text}, ${entry.ssml},
               ${entry.voiceId}, ${JSON.stringify(entry.voiceSettings)}, ${entry.audioBlobPath}, ${entry.audioUrl},
               ${entry.audioDurationSeconds}, ${entry.audioFileSizeBytes}, 0, ${entry.createdAt}, ${entry.createdAt},
               ${entry.expiresAt}
          FROM gate
        ON CONFLICT (cache_key) DO NOTHING
        RETURNING cache_key, tenant_id, created_at, char_length(text) AS chars
      ), ours AS (
        INSERT INTO audio_cache_auditions (cache_key, tenant_id, created_at, predictive, blob_store, project_id)
        SELECT cache_key, tenant_id, created_at, ${predictive}::boolean, ${storeId}::text, ${projectId}::uuid
          FROM stored
        ON CONFLICT (cache_key) DO UPDATE
           SET predictive = excluded.predictive, blob_store = excluded.blob_store, project_id = excluded.project_id
      ), ${registerStore(storeId, projectId)}, spent AS (
        ${spendInsert}
        SELECT tenant_id, date_trunc('hour', created_at, 'UTC'), 1, chars FROM stored WHERE ${predictive}::boolean
        ${spendAdded}
      )
      SELECT (SELECT count(*) FROM gate)::int AS held, (SELECT cache_key FROM stored) AS cache_key`,
      ),
    );
    if (fence && rows[0]?.held !== 1) throw new LeaseLostError(fence);
    return rows[0]?.cache_key != null;
  }

  async replace(entry: NewCacheEntry, fence?: LeaseGrant): Promise<void> {
    // Only a row of ours is overwritten (an expired one, or one whose blob was lost); its note
    // takes the entry's `predictive`, and a predictive one's synthesis is counted as its spend,
    // in the same statement. Retried once if the connection dies, so the spend is counted only
    // when the row did not hold this very entry already (`before` sees the row as it was): a
    // retry of a replace that committed counts nothing. The note moves to the entry's account (the operator's when
    // it has no `store`), registered as insert registers it.
    const predictive = entry.predictive ?? false;
    const { storeId, projectId } = storeOf(entry);
    const { rows } = await retryIfConnectionLost(() =>
      runSql<{ held: number }>(
        this.db.pool,
        sql`
      WITH ${gateOf(fence)}, before AS (
        SELECT c.created_at, c.audio_blob_path FROM audio_cache AS c WHERE c.cache_key = ${entry.cacheKey}
      ), replaced AS (
        UPDATE audio_cache AS c
           SET tenant_id = ${entry.tenantId}::uuid, text = ${entry.text}, ssml = ${entry.ssml},
               voice_id = ${entry.voiceId},
               voice_settings = ${JSON.stringify(entry.voiceSettings)}, audio_blob_path = ${entry.audioBlobPath},
               audio_url = ${entry.audioUrl}, audio_duration_seconds = ${entry.audioDurationSeconds},
               audio_file_size_bytes = ${entry.audioFileSizeBytes}, hit_count = 0,
               last_accessed_at = ${entry.createdAt}, created_at = ${entry.createdAt}, expires_at = ${entry.expiresAt}
         WHERE c.cache_key = ${entry.cacheKey} AND ${isOurEntry} AND EXISTS (SELECT 1 FROM gate)
        RETURNING c.cache_key, c.tenant_id, c.created_at, char_length(c.text) AS chars
      ), noted AS (
        UPDATE audio_cache_auditions AS o
           SET predictive = ${predictive}::boolean, blob_store = ${storeId}::text, project_id = ${projectId}::uuid
          FROM replaced AS r WHERE o.cache_key = r.cache_key
      ), stored AS (
        SELECT tenant_id, created_at FROM replaced
      ), ${registerStore(storeId, projectId)}, spent AS (
        ${spendInsert}
        SELECT r.tenant_id, date_trunc('hour', r.created_at, 'UTC'), 1, r.chars FROM replaced AS r
         WHERE ${predictive}::boolean AND NOT EXISTS (
               SELECT 1 FROM before AS b
                WHERE b.created_at = ${entry.createdAt} AND b.audio_blob_path = ${entry.audioBlobPath})
        ${spendAdded}
      )
      SELECT (SELECT count(*) FROM gate)::int AS held`,
      ),
    );
    if (fence && rows[0]?.held !== 1) throw new LeaseLostError(fence);
  }
}

/**
 * SQL: the CTE `gate`, one row while the writer may write: fenced by its lease, the lease row locked if the writer
 * still holds it (none once another instance took it over or it was released); unfenced, always. A write selects from
 * it, so that it happens only then; the lock, held until the write's statement commits, keeps a takeover waiting, and
 * the taker then finds what was written. One statement, one round trip: no transaction spans two.
 */
function gateOf(fence: LeaseGrant | undefined): Sql {
  return sql`gate AS (${fence ? fenceOf(fence) : sql`SELECT 1 AS held`})`;
}
