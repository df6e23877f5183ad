import { isOurEntry } from './ownership-sql.ts';
import type { Database } from './prisma-client.ts';
import type {
  CacheMaintenance,
  EntrySelection,
  ProjectStoreEntry,
  ProjectStoreMaintenance,
  ProjectStoreSkip,
  RegisteredStore,
} from '../../ports/cache-maintenance.ts';
import { beyondCapOf, ourRowsOf, selectInProjectStoresSql, type ProjectStoreRow } from './project-store-sql.ts';
import { empty, sql, type Sql } from './sql.ts';

/**
 * SQL: the `audio_cache` row aliased `c` is one this service wrote whose blob is in the operator's account. Rows in
 * projects' own accounts go blobs first (ProjectStoreMaintenance), never by the one-statement deletes.
 */
const isOurOperatorEntry = sql`EXISTS (SELECT 1 FROM audio_cache_auditions AS o
   WHERE o.cache_key = c.cache_key AND o.blob_store IS NULL)`;

/**
 * CacheMaintenance and ProjectStoreMaintenance in SQL through Prisma. Every delete is one bounded statement
 * (`… LIMIT n`, committed on its own), so no statement or transaction grows with the table
 * and the caller never holds more than one batch of paths.
 */
export class PrismaCacheMaintenance implements CacheMaintenance, ProjectStoreMaintenance {
  constructor(private readonly db: Database) {}

  async deleteExpired(now: Date, limit: number): Promise<string[]> {
    return this.#deleteOurs(sql`
      SELECT c.id, c.cache_key FROM audio_cache AS c
       WHERE c.expires_at < ${now} AND ${isOurOperatorEntry}
       ORDER BY c.expires_at LIMIT ${limit}`);
  }

  async tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]> {
    // Only our entries count towards the cap: a tenant's narration rows neither fill it nor go.
    // Counted from the notes alone (their tenant index). A note whose row someone else deleted
    // counts until its slice's daily check forgets it; the deletion below ranks actual rows, so
    // such a note never costs an entry.
    const rows = await this.db.$queryRaw<{ tenant_id: string; entries: bigint }[]>`
      SELECT tenant_id::text, count(*) AS entries FROM audio_cache_auditions
       GROUP BY tenant_id HAVING count(*) > ${maxEntries}
       ORDER BY tenant_id`;
    return rows.map((row) => ({ tenantId: row.tenant_id, entries: Number(row.entries) }));
  }

  async deleteLeastRecentlyUsed(tenantId: string, keep: number, limit: number): Promise<string[]> {
    // Ranked afresh by each batch, so entries added or played meanwhile are counted right; ranked over every store,
    // so one cap holds them all, and only those in the operator's account go here.
    return this.#deleteOurs(sql`
      SELECT d.id, d.cache_key FROM (${beyondCapOf(tenantId, keep)}) AS d
       WHERE d.blob_store IS NULL
       ORDER BY d.rank_at DESC, d.id DESC LIMIT ${limit}`);
  }

  async deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]> {
    // In the same statement, the tenant's predictive runs are forgotten, so that its next audition prewarms
    // again what the purge removed (each batch forgets them again: a no-op after the first).
    return this.#deleteOurs(
      sql`
      SELECT c.id, c.cache_key FROM ${ourRowsOf(tenantId)}
         AND o.blob_store IS NULL
         AND (${voiceId ?? null}::text IS NULL OR c.voice_id = ${voiceId ?? null}::text)
       LIMIT ${limit}`,
      sql`, forgotten AS (DELETE FROM audio_cache_predictive_runs WHERE tenant_id = ${tenantId}::uuid)`,
    );
  }

  /**
   * Deletes the rows `doomed` selects (id, cache_key; ours only, by its own condition) and
   * their ownership notes, in one statement; returns their blob paths. `= ANY(ARRAY(…))`
   * rather than a join: each side is then found through its primary key, where a join let
   * the planner scan both tables whole for every batch. `alongside`: more of the statement's CTEs.
   */
  async #deleteOurs(doomed: Sql, alongside: Sql = empty): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ path: string }[]>`
      WITH gone AS (
        DELETE FROM audio_cache AS c WHERE c.id = ANY(ARRAY(SELECT d.id FROM (${doomed}) AS d))
        RETURNING c.cache_key, c.audio_blob_path
      ), unlisted AS (
        DELETE FROM audio_cache_auditions AS o WHERE o.cache_key = ANY(ARRAY(SELECT g.cache_key FROM gone AS g))
      )${alongside}
      SELECT audio_blob_path AS path FROM gone`;
    return rows.map((row) => row.path);
  }

  async selectInProjectStores(
    selection: EntrySelection,
    limit: number,
    skip: ProjectStoreSkip,
  ): Promise<ProjectStoreEntry[]> {
    const rows = await this.db.$queryRaw<ProjectStoreRow[]>(selectInProjectStoresSql(selection, limit, skip));
    return rows.map((row) => ({
      id: row.id,
      cacheKey: row.cache_key,
      tenantId: row.tenant_id,
      path: row.path,
      storeId: row.store_id,
      projectId: row.project_id,
    }));
  }

  async deleteEntries(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // Ours only: an id of another writer's row (the narration) is never deleted, whatever the caller passes.
    const [row] = await this.db.$queryRaw<{ deleted: bigint }[]>`
      WITH gone AS (
        DELETE FROM audio_cache AS c WHERE c.id = ANY(${[...ids]}::uuid[]) AND ${isOurEntry}
        RETURNING c.cache_key
      ), unlisted AS (
        DELETE FROM audio_cache_auditions AS o WHERE o.cache_key = ANY(ARRAY(SELECT g.cache_key FROM gone AS g))
      )
      SELECT count(*) AS deleted FROM gone`;
    return Number(row?.deleted ?? 0);
  }

  async registeredStores(): Promise<RegisteredStore[]> {
    const rows = await this.db.$queryRaw<
      { tenant_id: string; store_id: string; project_id: string; entries: bigint }[]
    >`
      SELECT r.tenant_id::text, r.store_id, r.project_id::text,
             (SELECT count(*) FROM audio_cache_auditions AS o JOIN audio_cache AS c ON c.cache_key = o.cache_key
               WHERE o.tenant_id = r.tenant_id AND o.blob_store = r.store_id AND c.tenant_id = r.tenant_id) AS entries
        FROM audio_cache_blob_stores AS r
       ORDER BY r.tenant_id, r.store_id`;
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      storeId: row.store_id,
      projectId: row.project_id,
      entries: Number(row.entries),
    }));
  }

  async forgetStoreIfEmpty(tenantId: string, storeId: string): Promise<boolean> {
    // The registry row is locked first, and the notes looked at by a later statement of the same transaction: an
    // entry stored there meanwhile (its note and the registry's upsert are one statement) has then either committed,
    // and is seen, or waits for this one, and registers the store again.
    const forgotten = await this.db.$transaction(async (tx) => {
      await tx.$queryRaw`
        SELECT 1 FROM audio_cache_blob_stores
         WHERE tenant_id = ${tenantId}::uuid AND store_id = ${storeId} FOR UPDATE`;
      return tx.$executeRaw`
        DELETE FROM audio_cache_blob_stores AS r
         WHERE r.tenant_id = ${tenantId}::uuid AND r.store_id = ${storeId}
           AND NOT EXISTS (SELECT 1 FROM audio_cache_auditions AS o
                            WHERE o.tenant_id = r.tenant_id AND o.blob_store = r.store_id)`;
    });
    return forgotten > 0;
  }

  async deleteUsageBefore(before: Date): Promise<number> {
    return this.db.$executeRaw`DELETE FROM audio_cache_usage WHERE hour < ${before}`;
  }

  async findReferencedBlobs(blobs: readonly { path: string; cacheKey: string }[]): Promise<Set<string>> {
    if (blobs.length === 0) return new Set();
    // Any writer's reference counts: a row of audio_cache under the blob's key (every writer
    // names blobs audio-cache/{tenant}/{key}.mp3; the key is indexed, the path is not), and,
    // on the Khipu database, a segment's raw narration key (no foreign key there: its row may
    // be gone while the segment still points at the audio).
    const segments = await this.#hasSegmentMetadata();
    const segmentRefersTo = sql`
          OR EXISTS (SELECT 1 FROM audio_segment_metadata AS s WHERE s.raw_audio_cache_key = b.cache_key)`;
    const rows = await this.db.$queryRaw<{ path: string }[]>`
      SELECT b.path
        FROM unnest(${blobs.map((b) => b.path)}::text[], ${blobs.map((b) => b.cacheKey)}::text[]) AS b(path, cache_key)
       WHERE EXISTS (SELECT 1 FROM audio_cache AS c WHERE c.cache_key = b.cache_key)
          ${segments ? segmentRefersTo : empty}`;
    return new Set(rows.map((row) => row.path));
  }

  async deleteUnusedOwnershipNotes({ from, to }: { from: string; to?: string }): Promise<number> {
    // Notes of rows someone else deleted (the Khipu Cloud API's own cleanup, a tenant's
    // cascade): nothing refers to them any more. One slice of the key space at a time, each
    // note checked through audio_cache's unique cache_key index.
    return this.db.$executeRaw`
      DELETE FROM audio_cache_auditions AS o
       WHERE o.cache_key >= ${from} AND (${to ?? null}::text IS NULL OR o.cache_key < ${to ?? null}::text)
         AND NOT EXISTS (SELECT 1 FROM audio_cache AS c WHERE c.cache_key = o.cache_key)`;
  }

  async #hasSegmentMetadata(): Promise<boolean> {
    const [row] = await this.db.$queryRaw<{ present: boolean }[]>`
      SELECT to_regclass('audio_segment_metadata') IS NOT NULL AS present`;
    return row?.present ?? false;
  }
}
