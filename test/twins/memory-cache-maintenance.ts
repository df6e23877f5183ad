import type {
  CacheMaintenance,
  EntrySelection,
  ProjectStoreEntry,
  ProjectStoreMaintenance,
  ProjectStoreSkip,
  RegisteredStore,
} from '../../src/ports/cache-maintenance.ts';
import { MemoryCacheDatabase, registryKey, type CacheRow } from './memory-cache-database.ts';

/**
 * An in-memory CacheMaintenance: the twin of PrismaCacheMaintenance, over a MemoryCacheDatabase
 * (pass the one a MemoryAudioCacheIndex uses to share the tables). Like the SQL, every
 * deletion acts on rows of ours only (a row with an ownership note) and takes the note with it; the
 * CacheMaintenance deletes only those in the operator's account (no store in their note).
 */
export class MemoryCacheMaintenance implements CacheMaintenance, ProjectStoreMaintenance {
  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  deleteExpired(now: Date, limit: number): Promise<string[]> {
    return this.database.run(() => {
      const expired = this.#ourRows()
        .filter((row) => this.#storeOf(row) === null && row.expiresAt !== null && row.expiresAt < now)
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
      // Ranked over every store; only those in the operator's account go here.
      const beyond = this.#beyondCap(tenantId, keep).filter((row) => this.#storeOf(row) === null);
      return this.#delete(beyond.slice(0, limit));
    });
  }

  deleteTenantEntries(tenantId: string, voiceId: string | undefined, limit: number): Promise<string[]> {
    return this.database.run(() => {
      const doomed = this.#ourRowsOf(tenantId).filter(
        (row) => this.#storeOf(row) === null && (voiceId === undefined || row.voiceId === voiceId),
      );
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

  selectInProjectStores(
    selection: EntrySelection,
    limit: number,
    skip: ProjectStoreSkip,
  ): Promise<ProjectStoreEntry[]> {
    return this.database.run(() => {
      // As the SQL: an account is skipped for a tenant (the pair), an entry by its id.
      const inReach = (row: CacheRow) => {
        const store = this.#storeOf(row);
        if (store === null || skip.entries.includes(row.id)) return false;
        return !skip.stores.some((s) => sameUuid(s.tenantId, row.tenantId) && s.storeId === store);
      };
      return this.#selected(selection)
        .filter(inReach)
        .slice(0, limit)
        .map((row) => {
          const note = this.database.notes.get(row.cacheKey)!;
          const { id, cacheKey, tenantId, audioBlobPath: path } = row;
          return { id, cacheKey, tenantId, path, storeId: note.storeId!, projectId: note.projectId };
        });
    });
  }

  deleteEntries(ids: readonly string[]): Promise<number> {
    return this.database.run(() => this.#delete(this.#ourRows().filter((row) => ids.includes(row.id))).length);
  }

  registeredStores(): Promise<RegisteredStore[]> {
    return this.database.run(() =>
      [...this.database.registry.values()]
        .sort((a, b) => compare(a.tenantId, b.tenantId) || compare(a.storeId, b.storeId))
        .map(({ tenantId, storeId, projectId }) => ({
          tenantId,
          storeId,
          projectId,
          entries: this.#ourRowsOf(tenantId).filter((row) => this.#storeOf(row) === storeId).length,
        })),
    );
  }

  forgetStoreIfEmpty(tenantId: string, storeId: string): Promise<boolean> {
    return this.database.run(() => {
      // Any note of the tenant in the store keeps it (also one whose row another writer deleted), as the SQL.
      const noted = [...this.database.notes.values()].some((n) => n.tenantId === tenantId && n.storeId === storeId);
      return !noted && this.database.registry.delete(registryKey(tenantId, storeId));
    });
  }

  /** The rows of ours `selection` picks, of every store, oldest first (as the SQL orders each kind). */
  #selected(selection: EntrySelection): CacheRow[] {
    switch (selection.kind) {
      case 'expired':
        return this.#ourRows()
          .filter((row) => row.expiresAt !== null && row.expiresAt < selection.now)
          .sort((a, b) => a.expiresAt!.getTime() - b.expiresAt!.getTime() || compare(a.id, b.id));
      case 'over-cap':
        return this.#beyondCap(selection.tenantId, selection.keep).sort(
          (a, b) => a.lastAccessedAt.getTime() - b.lastAccessedAt.getTime() || compare(a.id, b.id),
        );
      case 'tenant':
        return this.#ourRowsOf(selection.tenantId)
          .filter((row) => selection.voiceId === undefined || row.voiceId === selection.voiceId)
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compare(a.id, b.id));
    }
  }

  /** The tenant's rows of ours beyond its `keep` most recently played, of every store, most recent first. */
  #beyondCap(tenantId: string, keep: number): CacheRow[] {
    return this.#ourRowsOf(tenantId)
      .sort((a, b) => b.lastAccessedAt.getTime() - a.lastAccessedAt.getTime() || compare(b.id, a.id))
      .slice(keep);
  }

  /** The project account the row's blob is in (its note's); null: the operator's. */
  #storeOf(row: CacheRow): string | null {
    return this.database.notes.get(row.cacheKey)?.storeId ?? null;
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

/** Strings in code-unit order (uuids, store ids: as Postgres' C-collated text compares ASCII). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two uuids are the same (Postgres compares the uuid, whatever the case of its text). */
function sameUuid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
