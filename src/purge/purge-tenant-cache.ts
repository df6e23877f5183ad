import { ProjectStoreDeletes, type ProjectStoreDeps } from '../cleanup/project-store-deletes.ts';
import type { Logger } from '../logger.ts';
import type { BlobStore, DeleteManyResult } from '../ports/blob-store.ts';
import type { CacheMaintenance } from '../ports/cache-maintenance.ts';

export interface PurgeResult {
  entriesDeleted: number;
  blobsDeleted: number;
  /** Rows whose blob was already gone. */
  blobsMissing: number;
  /** Blobs that could not be deleted now: the cleanup's orphan sweep removes them later. */
  blobsFailed: number;
  /**
   * Entries in a project's own storage account that could not be reached (its key or container refused, or no
   * project names it any more): kept, rows and blobs, until a later purge or the hourly cleanup can delete their
   * blobs. At least this many.
   * Also those whose blob path is not under the tenant's folder, never sent to the account (kept for good).
   */
  entriesKept: number;
}

/** A purge that has done nothing yet. */
export const NOTHING_PURGED: Readonly<PurgeResult> = {
  entriesDeleted: 0,
  blobsDeleted: 0,
  blobsMissing: 0,
  blobsFailed: 0,
  entriesKept: 0,
};

/**
 * Removes a tenant's cache entries (only one voice's when `voiceId` is given), in batches:
 * each batch's rows first, then their blobs, as the cleanup does, so an interruption leaves
 * at worst unreferenced blobs (swept later), never a row pointing at a deleted blob.
 * `progress` holds the counts so far, also when a batch fails. Then the tenant's entries in projects' own accounts,
 * blobs first (ProjectStoreDeletes): one whose account cannot be reached is kept, never its row alone deleted, and
 * warned about on `log`.
 */
export async function purgeTenantCache(
  deps: PurgeDeps,
  { tenantId, voiceId, batchSize = 1_000 }: { tenantId: string; voiceId?: string; batchSize?: number },
  log: Logger,
  progress: PurgeResult = { ...NOTHING_PURGED },
): Promise<PurgeResult> {
  const counted = (blobs: DeleteManyResult) => {
    progress.blobsDeleted += blobs.deleted;
    progress.blobsMissing += blobs.missing;
    progress.blobsFailed += blobs.failed;
  };
  for (;;) {
    const paths = await deps.maintenance.deleteTenantEntries(tenantId, voiceId, batchSize);
    progress.entriesDeleted += paths.length;
    counted(await deps.blobStore.deleteMany(paths));
    if (paths.length < batchSize) break;
  }
  if (!deps.projects) return progress;
  const projects = new ProjectStoreDeletes(deps.projects, log);
  progress.entriesDeleted += await projects.deleteSelected({ kind: 'tenant', tenantId, voiceId }, batchSize, counted);
  progress.entriesKept += projects.kept + projects.misplaced.length;
  return progress;
}

export interface PurgeDeps {
  maintenance: CacheMaintenance;
  /** The operator's account. */
  blobStore: BlobStore;
  /** Projects' own storage accounts (none: only the operator's account is purged). */
  projects?: ProjectStoreDeps;
}
