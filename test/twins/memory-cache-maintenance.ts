import type { CacheMaintenance } from '../../src/ports/cache-maintenance.ts';
import { MemoryCacheDatabase, type CacheRow } from './memory-cache-database.ts';

/**
 * An in-memory CacheMaintenance: the twin of PrismaCacheMaintenance, over a MemoryCacheDatabase
 * (pass the one a MemoryAudioCacheIndex uses to share the tables). Like the SQL, every
 * deletion acts on rows of ours only (a row with an ownership note) and takes the note with it.
 */
export class MemoryCacheMaintenance implements CacheMaintenance {
  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  async withExclusiveLock<T>(work: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    // One lock per database, as the advisory lock is one per Postgres database: every twin
    // over the same MemoryCacheDatabase is another instance of the app.
    const locked = await this.database.run(() => {
      if (this.database.cleanupLockHeld) return false;
      this.database.cleanupLockHeld = true;
      return true;
    });
    if (!locked) return { ran: false };
    try {
      return { ran: true, value: await work() };
    } finally {
      this.database.cleanupLockHeld = false;
    }
  }

  deleteExpired(now: Date, limit: number): Promise<string[]> {
    return this.database.run(() => {
      const expired = this.#ourRows()
        .filter((row) => row.expiresAt !== null && row.expiresAt < now)
        .sort((a, b) => a.expiresAt!.getTime() - b.expiresAt!.getTime());
      return this.#delete(expired.slice(0, limit));
    });
  }

  tenantsOverCap(maxEntries: number): Promise<{ tenantId: string; entries: number }[]> {
    return this.database.run(() => {
      // Counted from the notes, as the SQL counts them: a note whose row another writer
      // deleted counts until deleteUnusedOwnershipNotes forgets it.
      const entries = new Map<string, number>();
      for (const { tenantId } of this.database.notes.values()) entries.set(tenantId, (entries.get(tenantId) ?? 0) + 1);
      return [...entries]
        .filter(([, count]) => count > maxEntries)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([tenantId, count]) => ({ tenantId, entries: count }));
    });
  }

  deleteLeastRecentlyUsed(tenantId: string, keep: number, limit: number): Promise<string[]> {
    return this.database.run(() => {
      const ranked = this.#ourRowsOf(tenantId).sort(
        (a, b) => b.lastAccessedAt.getTime() - a.lastAccessedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
      );
      return this.#delete(ranked.slice(keep, keep + limit));
    });
  }

  deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]> {
    return this.database.run(() => {
      const doomed = this.#ourRowsOf(tenantId).filter((row) => voiceId === undefined || row.voiceId === voiceId);
      // As the SQL: the tenant's predictive runs are forgotten in the same statement.
      for (const [key, run] of this.database.predictiveRuns)
        if (run.tenantId === tenantId) this.database.predictiveRuns.delete(key);
      return this.#delete(doomed.slice(0, limit));
    });
  }

  findReferencedBlobs(blobs: readonly { path: string; cacheKey: string }[]): Promise<Set<string>> {
    return this.database.run(() => {
      const { rows, segmentReferences } = this.database;
      return new Set(blobs.filter((b) => rows.has(b.cacheKey) || segmentReferences.has(b.cacheKey)).map((b) => b.path));
    });
  }

  deleteUnusedOwnershipNotes({ from, to }: { from: string; to?: string }): Promise<number> {
    return this.database.run(() => {
      let removed = 0;
      for (const cacheKey of [...this.database.notes.keys()]) {
        const inSlice = cacheKey >= from && (to === undefined || cacheKey < to);
        if (inSlice && !this.database.rows.has(cacheKey)) {
          this.database.notes.delete(cacheKey);
          removed++;
        }
      }
      return removed;
    });
  }

  deleteUsageBefore(before: Date): Promise<number> {
    return this.database.run(() => this.database.deleteUsageBefore(before));
  }

  #ourRows(): CacheRow[] {
    return [...this.database.rows.values()].filter((row) => this.database.isOurs(row.cacheKey));
  }

  /** The tenant's rows of ours: noted for the tenant, and still the tenant's row. */
  #ourRowsOf(tenantId: string): CacheRow[] {
    return this.#ourRows().filter(
      (row) => row.tenantId === tenantId && this.database.notes.get(row.cacheKey)?.tenantId === tenantId,
    );
  }

  /** Deletes the rows and their ownership notes; returns their blob paths. */
  #delete(doomed: CacheRow[]): string[] {
    for (const { cacheKey } of doomed) {
      this.database.rows.delete(cacheKey);
      this.database.notes.delete(cacheKey);
    }
    return doomed.map((row) => row.audioBlobPath);
  }
}
