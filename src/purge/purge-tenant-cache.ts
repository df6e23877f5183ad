import type { BlobStore } from '../ports/blob-store.ts';
import type { CacheMaintenance } from '../ports/cache-maintenance.ts';

export interface PurgeResult {
  entriesDeleted: number;
  blobsDeleted: number;
  /** Rows whose blob was already gone. */
  blobsMissing: number;
  /** Blobs that could not be deleted now: the cleanup's orphan sweep removes them later. */
  blobsFailed: number;
}

/**
 * Removes a tenant's cache entries (only one voice's when `voiceId` is given), in batches:
 * each batch's rows first, then their blobs, as the cleanup does, so an interruption leaves
 * at worst unreferenced blobs (swept later), never a row pointing at a deleted blob.
 * `progress` holds the counts so far, also when a batch fails.
 */
export async function purgeTenantCache(
  deps: { maintenance: CacheMaintenance; blobStore: BlobStore },
  { tenantId, voiceId, batchSize = 1_000 }: { tenantId: string; voiceId?: string; batchSize?: number },
  progress: PurgeResult = { entriesDeleted: 0, blobsDeleted: 0, blobsMissing: 0, blobsFailed: 0 },
): Promise<PurgeResult> {
  for (;;) {
    const paths = await deps.maintenance.deleteTenantEntries(tenantId, voiceId, batchSize);
    progress.entriesDeleted += paths.length;
    const blobs = await deps.blobStore.deleteMany(paths);
    progress.blobsDeleted += blobs.deleted;
    progress.blobsMissing += blobs.missing;
    progress.blobsFailed += blobs.failed;
    if (paths.length < batchSize) return progress;
  }
}
