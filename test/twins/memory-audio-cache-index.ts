import type {
  AudioCacheIndex,
  CacheEntry,
  HitBatch,
  MissBatch,
  NewCacheEntry,
} from '../../src/ports/audio-cache-index.ts';
import { LeaseLostError, type LeaseGrant } from '../../src/ports/leases.ts';
import { characterCount, hourOf, MemoryCacheDatabase, type CacheRow } from './memory-cache-database.ts';

/**
 * An in-memory AudioCacheIndex: the twin of PrismaAudioCacheIndex, over a MemoryCacheDatabase
 * (pass the one a MemoryCacheMaintenance uses to share the tables).
 */
export class MemoryAudioCacheIndex implements AudioCacheIndex {
  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  find(cacheKey: string): Promise<CacheEntry | null> {
    return this.database.run(() => {
      const row = this.database.rows.get(cacheKey);
      if (!row) return null;
      const { id, tenantId, audioBlobPath, audioDurationSeconds, expiresAt } = row;
      return {
        id,
        tenantId,
        cacheKey,
        audioBlobPath,
        audioDurationSeconds,
        expiresAt: expiresAt && new Date(expiresAt),
        storeId: this.database.notes.get(cacheKey)?.storeId ?? null,
      };
    });
  }

  recordHits(batch: HitBatch): Promise<string[]> {
    return this.database.run(() => {
      const unmatched: string[] = [];
      for (const { cacheKey, hits, lastAccessedAt } of batch) {
        const row = this.database.rows.get(cacheKey);
        if (!row) {
          unmatched.push(cacheKey);
          continue;
        }
        row.hitCount += hits;
        if (lastAccessedAt > row.lastAccessedAt) row.lastAccessedAt = new Date(lastAccessedAt);
        this.database.addUsage(row.tenantId, hourOf(lastAccessedAt), {
          hits,
          charactersSaved: hits * characterCount(row.text),
          predictiveHits: this.database.notes.get(cacheKey)?.predictive ? hits : 0,
        });
      }
      return unmatched;
    });
  }

  recordMisses(batch: MissBatch): Promise<void> {
    return this.database.run(() => {
      for (const { tenantId, hour, misses } of batch) this.database.addUsage(tenantId, hour, { misses });
    });
  }

  insert(entry: NewCacheEntry, fence?: LeaseGrant): Promise<boolean> {
    return this.database.run(() => {
      if (fence && !this.database.holdsLease(fence)) throw new LeaseLostError(fence);
      // A row under the key, of whichever writer, wins: never claimed, never noted.
      if (this.database.rows.has(entry.cacheKey)) return false;
      const predictive = entry.predictive ?? false;
      this.database.putOurRow(columnsOf(entry), { predictive, store: entry.store });
      if (predictive) this.#countSpend(entry);
      return true;
    });
  }

  replace(entry: NewCacheEntry, fence?: LeaseGrant): Promise<void> {
    return this.database.run(() => {
      if (fence && !this.database.holdsLease(fence)) throw new LeaseLostError(fence);
      const row = this.database.rows.get(entry.cacheKey);
      // Only a row of ours is overwritten; its id (and its ownership note) stay, the note taking the
      // entry's `predictive` and moving to its account (registered, as insert registers it). The spend is counted unless the row held this very entry already (the SQL's
      // guard for a retried replace).
      const note = this.database.notes.get(entry.cacheKey);
      if (!row || !note) return;
      const already =
        row.createdAt.getTime() === entry.createdAt.getTime() && row.audioBlobPath === entry.audioBlobPath;
      Object.assign(row, columnsOf(entry));
      note.predictive = entry.predictive ?? false;
      note.storeId = entry.store?.storeId ?? null;
      note.projectId = entry.store?.projectId ?? null;
      if (entry.store) this.database.registerStore(entry.tenantId, entry.store, entry.createdAt);
      if (note.predictive && !already) this.#countSpend(entry);
    });
  }

  /** A synthesis of predictive prewarm, in the tenant's usage for the hour the entry was stored. */
  #countSpend(entry: NewCacheEntry): void {
    this.database.addUsage(entry.tenantId, hourOf(entry.createdAt), {
      predictiveSyntheses: 1,
      predictiveCharacters: characterCount(entry.text),
    });
  }
}

/** The columns insert and replace write (hit_count 0, last access at creation). */
function columnsOf(entry: NewCacheEntry): Omit<CacheRow, 'id'> {
  return {
    tenantId: entry.tenantId,
    cacheKey: entry.cacheKey,
    text: entry.text,
    ssml: entry.ssml,
    voiceId: entry.voiceId,
    voiceSettings: structuredClone(entry.voiceSettings),
    audioBlobPath: entry.audioBlobPath,
    audioUrl: entry.audioUrl,
    audioDurationSeconds: entry.audioDurationSeconds,
    audioFileSizeBytes: entry.audioFileSizeBytes,
    hitCount: 0,
    lastAccessedAt: new Date(entry.createdAt),
    createdAt: new Date(entry.createdAt),
    expiresAt: new Date(entry.expiresAt),
  };
}
