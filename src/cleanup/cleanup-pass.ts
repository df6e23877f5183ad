import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { BlobStore, DeleteManyResult } from '../ports/blob-store.ts';
import type { CacheMaintenance } from '../ports/cache-maintenance.ts';
import type { CacheStatsReader } from '../ports/cache-stats.ts';
import type { Leases } from '../ports/leases.ts';
import { ProjectStoreDeletes, type ProjectStoreDeps } from './project-store-deletes.ts';

// What every step of a cleanup pass (clean-cache.ts) shares.

export interface CleanupOptions {
  maxEntriesPerTenant: number;
  now: Clock;
  /** For the savings in the stats line (TTS_PRICE_PER_MILLION_CHARS). */
  pricePerMillionChars: number;
  /** Rows per DELETE statement. */
  batchSize?: number;
  /** An unreferenced blob younger than this may belong to a miss that is storing its row. */
  orphanGraceMs?: number;
  /** Most orphaned blobs deleted per pass. */
  orphanLimit?: number;
}

export const DEFAULTS = { batchSize: 5_000, orphanGraceMs: 60 * 60_000, orphanLimit: 10_000 };

export interface CleanupDeps {
  maintenance: CacheMaintenance;
  /** The one-pass-at-a-time lease, shared with every instance and manual run. */
  leases: Leases;
  /** The operator's account. */
  blobStore: BlobStore;
  stats: CacheStatsReader;
  /** Projects' own storage accounts (none: only the operator's account is cleaned). */
  projects?: ProjectStoreDeps;
}

/** What every step of one pass shares: its dependencies and settings, and the time and blob deletes it adds up. */
export class CleanupPass {
  databaseMs = 0;
  blobMs = 0;
  readonly blobs: DeleteManyResult = { deleted: 0, missing: 0, failed: 0 };
  readonly batchSize: number;
  /** This pass's deletes in projects' own accounts (none without `deps.projects`). */
  readonly projects: ProjectStoreDeletes | undefined;

  constructor(
    readonly deps: CleanupDeps,
    readonly options: CleanupOptions,
    /** Where the pass's lines go (the timer's invocation context, `npm run cleanup`'s console). */
    readonly log: Logger,
  ) {
    this.batchSize = options.batchSize ?? DEFAULTS.batchSize;
    this.projects = deps.projects && new ProjectStoreDeletes(deps.projects, log);
  }

  /** A database statement, its time counted. */
  database<T>(work: (maintenance: CacheMaintenance) => Promise<T>): Promise<T> {
    return this.#timed('databaseMs', () => work(this.deps.maintenance));
  }

  /** A blob request, its time counted. */
  blobRequest<T>(work: (store: BlobStore) => Promise<T>): Promise<T> {
    return this.#timed('blobMs', () => work(this.deps.blobStore));
  }

  /** Deletes these blobs (in the operator's account, unless another store is given), counted in the pass's totals. */
  async deleteBlobs(paths: string[], store = this.deps.blobStore): Promise<DeleteManyResult> {
    const result = await this.blobRequest(() => store.deleteMany(paths));
    this.count(result);
    return result;
  }

  /** Adds a blob batch's result to the pass's totals. */
  count(result: DeleteManyResult): void {
    this.blobs.deleted += result.deleted;
    this.blobs.missing += result.missing;
    this.blobs.failed += result.failed;
    this.blobs.firstError ??= result.firstError;
  }

  async #timed<T>(kind: 'databaseMs' | 'blobMs', work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this[kind] += performance.now() - started;
    }
  }
}
