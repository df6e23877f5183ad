import type { EntrySelection, ProjectStoreSkip } from '../../ports/cache-maintenance.ts';
import { sql, type Sql } from './sql.ts';

/**
 * `audio_cache AS c` narrowed to the tenant's rows this service wrote (notes `o`),
 * from both tables' tenant indexes.
 */
export const ourRowsOf = (tenantId: string) => sql`
  audio_cache_auditions AS o JOIN audio_cache AS c ON c.cache_key = o.cache_key
  WHERE o.tenant_id = ${tenantId}::uuid AND c.tenant_id = ${tenantId}::uuid`;

/**
 * SQL: the tenant's rows of ours (`c`, notes `o`) beyond its `keep` most recently played ones, ranked over every
 * store (the operator's account and project accounts alike), with `rank_at` and `blob_store`: one cap for all.
 */
export const beyondCapOf = (tenantId: string, keep: number) => sql`
  SELECT c.id, c.cache_key, c.tenant_id, c.audio_blob_path, c.last_accessed_at AS rank_at, o.blob_store, o.project_id
    FROM ${ourRowsOf(tenantId)}
   ORDER BY c.last_accessed_at DESC, c.id DESC
  OFFSET ${keep}`;

/** A selected entry as the query answers it. */
export interface ProjectStoreRow {
  id: string;
  cache_key: string;
  tenant_id: string;
  path: string;
  store_id: string;
  project_id: string | null;
}

/**
 * SQL: up to `limit` of our entries in project accounts that `selection` picks, none that `skip` leaves out, oldest
 * first (the earliest expiry; the least recently played; the first stored), as ProjectStoreRow.
 */
export function selectInProjectStoresSql(selection: EntrySelection, limit: number, skip: ProjectStoreSkip) {
  const reachable = notSkipped(skip, sql`c.id`, sql`c.tenant_id`, sql`o.blob_store`);
  const columns = sql`c.id::text AS id, c.cache_key, c.tenant_id::text AS tenant_id,
         c.audio_blob_path AS path, o.blob_store AS store_id, o.project_id::text AS project_id`;
  switch (selection.kind) {
    case 'expired':
      return sql`
        SELECT ${columns}
          FROM audio_cache_auditions AS o JOIN audio_cache AS c ON c.cache_key = o.cache_key
         WHERE o.blob_store IS NOT NULL AND ${reachable} AND c.expires_at < ${selection.now}
         ORDER BY c.expires_at, c.id LIMIT ${limit}`;
    case 'over-cap':
      // Ranked over all the tenant's entries first, so those of a skipped store still count as kept.
      return sql`
        SELECT c.id::text AS id, c.cache_key, c.tenant_id::text AS tenant_id, c.audio_blob_path AS path,
               c.blob_store AS store_id, c.project_id::text AS project_id
          FROM (${beyondCapOf(selection.tenantId, selection.keep)}) AS c
         WHERE c.blob_store IS NOT NULL
           AND ${notSkipped(skip, sql`c.id`, sql`c.tenant_id`, sql`c.blob_store`)}
         ORDER BY c.rank_at, c.id LIMIT ${limit}`;
    case 'tenant': {
      const voiceId = selection.voiceId ?? null;
      return sql`
        SELECT ${columns}
          FROM ${ourRowsOf(selection.tenantId)}
           AND o.blob_store IS NOT NULL AND ${reachable}
           AND (${voiceId}::text IS NULL OR c.voice_id = ${voiceId}::text)
         ORDER BY c.created_at, c.id LIMIT ${limit}`;
    }
  }
}

/**
 * SQL: the entry whose id, tenant and account are these columns is not one `skip` leaves out. The skipped accounts go
 * as (tenant, store) pairs: another tenant's entries in an account a tenant cannot reach now are still picked.
 */
function notSkipped(skip: ProjectStoreSkip, id: Sql, tenantId: Sql, storeId: Sql) {
  const tenants = skip.stores.map((store) => store.tenantId);
  const stores = skip.stores.map((store) => store.storeId);
  return sql`NOT EXISTS (SELECT 1 FROM unnest(${tenants}::uuid[], ${stores}::text[]) AS s(tenant_id, store_id)
                         WHERE s.tenant_id = ${tenantId} AND s.store_id = ${storeId})
           AND NOT (${id} = ANY(${[...skip.entries]}::uuid[]))`;
}
