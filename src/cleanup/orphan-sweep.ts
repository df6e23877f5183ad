import { createHash } from 'node:crypto';
import { storeFailureOf } from '../cache/project-stores.ts';
import { AUDIO_BLOB_PREFIX, parseAudioBlobPath } from '../domain/blob-layout.ts';
import { describeError } from '../errors.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import { DEFAULTS, type CleanupPass } from './cleanup-pass.ts';
import { isInTenantFolder } from './project-store-deletes.ts';

/** Unreferenced-blob candidates checked against the index in one query. */
const ORPHAN_CHECK_BATCH = 1_000;

/**
 * The orphan sweep, which is only housekeeping: blobs this service wrote that no entry refers to (a crash between a
 * blob and its row, a row another writer deleted), in the operator's account every pass, and in each project account
 * it wrote to once a day (at its own hour: the cost of a pass grows with the accounts by a 24th of them). When listing
 * fails (an account unreachable) it is logged and counts none there, and the pass goes on to the stats, which still
 * matter.
 */
export async function sweepOrphansFailOpen(pass: CleanupPass, now: Date): Promise<number> {
  let orphans = 0;
  try {
    orphans += (await sweepOrphans(pass, now, pass.deps.blobStore, {}, orphanLimit(pass))).deleted;
  } catch (error) {
    pass.log.warn(`Orphaned blob sweep failed: ${describeError(error)}`);
  }
  orphans += await sweepProjectStores(pass, now, orphanLimit(pass) - orphans);
  pass.log.info(`Deleted ${orphans} orphaned cache blobs`);
  return orphans;
}

/** The UTC hour at which the hourly pass sweeps this tenant's blobs in this project account. */
export function sweepHourOf(tenantId: string, storeId: string): number {
  return createHash('sha256').update(`${tenantId.toLowerCase()}\u0000${storeId}`).digest().readUInt32BE(0) % 24;
}

/**
 * The project accounts due this hour: each tenant's folder there, with that tenant's key (an account two tenants name
 * is swept for each at its own hour, and one tenant unreachable there does not stop the other's); a store left empty
 * is forgotten.
 */
async function sweepProjectStores(pass: CleanupPass, now: Date, limit: number): Promise<number> {
  const { projects } = pass;
  const maintenance = pass.deps.projects?.maintenance;
  if (!projects || !maintenance) return 0;
  const registered = await pass.database(() => maintenance.registeredStores());
  let deleted = 0;
  for (const due of registered.filter((s) => sweepHourOf(s.tenantId, s.storeId) === now.getUTCHours())) {
    if (deleted >= limit || projects.isSkipped(due)) continue;
    const store = await pass.database(() => projects.storeOf(due));
    if (!store) continue;
    try {
      const swept = await sweepOrphans(pass, now, store, { tenantId: due.tenantId }, limit - deleted);
      deleted += swept.deleted;
      // Nothing of ours left there, in the index or in the account: the registry forgets it.
      if (due.entries === 0 && swept.ours === swept.deleted && !swept.stopped) {
        await pass.database(() => maintenance.forgetStoreIfEmpty(due.tenantId, due.storeId));
      }
    } catch (error) {
      projects.markUnreachable(due, storeFailureOf(error));
    }
  }
  return deleted;
}

function orphanLimit(pass: CleanupPass): number {
  return pass.options.orphanLimit ?? DEFAULTS.orphanLimit;
}

interface SweepResult {
  deleted: number;
  /** Blobs of ours seen under the prefix, of any age. */
  ours: number;
  /** The limit was reached before the listing's end. */
  stopped: boolean;
}

/**
 * Blobs in `store` that this service wrote, that no entry refers to and are past the grace period: under
 * `audio-cache/` (the operator's account), or only in the tenant's folder (a project account, with the tenant's key).
 */
async function sweepOrphans(
  pass: CleanupPass,
  now: Date,
  store: BlobStore,
  { tenantId }: { tenantId?: string },
  limit: number,
): Promise<SweepResult> {
  const cutoff = now.getTime() - (pass.options.orphanGraceMs ?? DEFAULTS.orphanGraceMs);
  const result: SweepResult = { deleted: 0, ours: 0, stopped: false };
  let candidates: OrphanCandidate[] = [];
  const prefix = tenantId === undefined ? AUDIO_BLOB_PREFIX : `${AUDIO_BLOB_PREFIX}${tenantId}/`;
  const listing = store.list(prefix)[Symbol.asyncIterator]();
  for (;;) {
    if (result.deleted >= limit) {
      result.stopped = true;
      break;
    }
    const next = await pass.blobRequest(() => listing.next());
    if (next.done) break;
    // Only blobs this service wrote: the container may be shared with the Khipu Cloud API.
    const cacheKey = parseAudioBlobPath(next.value.path)?.cacheKey;
    if (!cacheKey || !next.value.writtenHere) continue;
    // The listing asked for the tenant's folder; a name outside it (an account answering beside the point) is not the
    // tenant's key's to delete.
    if (tenantId !== undefined && !isInTenantFolder(next.value.path, tenantId)) continue;
    result.ours++;
    if (next.value.lastModified.getTime() > cutoff) continue;
    candidates.push({ path: next.value.path, cacheKey });
    if (candidates.length >= ORPHAN_CHECK_BATCH) {
      result.deleted += await deleteUnreferenced(pass, store, candidates, limit - result.deleted);
      candidates = [];
    }
  }
  if (candidates.length > 0 && result.deleted < limit) {
    result.deleted += await deleteUnreferenced(pass, store, candidates, limit - result.deleted);
  }
  await listing.return?.();
  return result;
}

type OrphanCandidate = { path: string; cacheKey: string };

/** Deletes up to `limit` of these blobs that no entry refers to; answers how many were deleted. */
async function deleteUnreferenced(
  pass: CleanupPass,
  store: BlobStore,
  candidates: OrphanCandidate[],
  limit: number,
): Promise<number> {
  const referenced = await pass.database((maintenance) => maintenance.findReferencedBlobs(candidates));
  const orphans = candidates
    .filter((c) => !referenced.has(c.path))
    .map((c) => c.path)
    .slice(0, limit);
  if (orphans.length === 0) return 0;
  return (await pass.deleteBlobs(orphans, store)).deleted;
}
