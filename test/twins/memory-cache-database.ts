import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../src/clock.ts';

const HOUR_MS = 3_600_000;

/** A row of audio_cache, with the columns the cache's ports read and write. */
export interface CacheRow {
  id: string;
  tenantId: string;
  cacheKey: string;
  text: string;
  ssml: string | null;
  voiceId: string;
  voiceSettings: unknown;
  audioBlobPath: string;
  audioUrl: string | null;
  audioDurationSeconds: number | null;
  audioFileSizeBytes: number | null;
  hitCount: number;
  lastAccessedAt: Date;
  createdAt: Date;
  expiresAt: Date | null;
}

/** A row as a test stores it: tenant and key, the rest defaulted. */
export type RowToStore = Pick<CacheRow, 'tenantId' | 'cacheKey'> & Partial<Omit<CacheRow, 'tenantId' | 'cacheKey'>>;

/** A tenant's figures for one hour (audio_cache_usage). */
export interface UsageHour {
  hour: Date;
  hits: number;
  misses: number;
  charactersSaved: number;
  /** Entries predictive prewarm stored in the hour, their characters, and the plays such entries served. */
  predictiveSyntheses: number;
  predictiveCharacters: number;
  predictiveHits: number;
}

/** An ownership note (audio_cache_auditions). */
export interface OwnershipNote {
  tenantId: string;
  createdAt: Date;
  /** Stored by predictive prewarm: its plays also count as predictive hits. */
  predictive: boolean;
  /** The project account its blob is in (blob_store), and the project that stored it there; null: the operator's. */
  storeId: string | null;
  projectId: string | null;
}

/** A project account the service wrote to (audio_cache_blob_stores). */
export interface RegistryRow {
  tenantId: string;
  storeId: string;
  /** The project that stored there last. */
  projectId: string;
  firstWrittenAt: Date;
  lastWrittenAt: Date;
}

/** Where an entry's blob is stored: a project's own account (NewCacheEntry.store), or the operator's (none). */
export type EntryStore = { storeId: string; projectId: string } | undefined;

const NO_USAGE: Omit<UsageHour, 'hour'> = {
  hits: 0,
  misses: 0,
  charactersSaved: 0,
  predictiveSyntheses: 0,
  predictiveCharacters: 0,
  predictiveHits: 0,
};

/**
 * The in-memory stand-in for the cache's tables, shared by MemoryAudioCacheIndex,
 * MemoryCacheMaintenance, MemoryCacheStatsReader and MemoryPredictiveRuns as audio_cache,
 * audio_cache_auditions, audio_cache_blob_stores, audio_cache_usage, audio_cache_predictive_runs and the
 * Khipu Cloud API's audio_segment_metadata are shared by the Prisma adapters. A row is ours
 * iff its key has an ownership note (as `isOurEntry` reads it); rows of other writers have
 * none. Tests reach in through the helpers below to play the other writer or read figures.
 */
export class MemoryCacheDatabase {
  /** audio_cache, by cache key (unique). */
  readonly rows = new Map<string, CacheRow>();
  /** audio_cache_auditions: the keys of the rows this service wrote, and their tenant. */
  readonly notes = new Map<string, OwnershipNote>();
  /** audio_cache_usage: tenant → hour's start (ms, UTC) → figures. */
  readonly #usage = new Map<string, Map<number, Omit<UsageHour, 'hour'>>>();
  /** audio_cache_blob_stores, by `registryKey(tenantId, storeId)`. */
  readonly registry = new Map<string, RegistryRow>();
  /** audio_cache_predictive_runs: [tenant, language, lineVersion] (JSON) → the run's start and finish. */
  readonly predictiveRuns = new Map<string, { tenantId: string; startedAt: Date; finishedAt: Date | null }>();
  /** audio_segment_metadata.raw_audio_cache_key of the Khipu Cloud API's segments. */
  readonly segmentReferences = new Set<string>();
  /** audio_cache_leases, by name; expiry in `leaseClock` milliseconds; released ones kept until deleteExpired. */
  readonly leases = new Map<string, { token: string; generation: number; expiresAtMs: number; released: boolean }>();
  /**
   * The clock leases expire on: real time, as the database's clock_timestamp() is for PrismaLeases (a test's fixed
   * `now` would never let one expire). Set it to a test's own to expire leases without waiting.
   */
  leaseClock: () => number = () => performance.now();

  /** Every call of either twin fails with this until it is set back to null. */
  failing: Error | null = null;
  #failNext: Error[] = [];

  constructor(readonly now: Clock = systemClock) {}

  /** The next call of either twin fails with this error (once; queued calls fail in turn). */
  failNext(error: Error = new Error('memory cache database: injected fault')): void {
    this.#failNext.push(error);
  }

  /**
   * Runs one statement of a twin: after a turn of the event loop's microtasks (a database is
   * never synchronous), failing with the injected fault, if any, before anything is read or
   * changed.
   */
  run<T>(statement: () => T): Promise<T> {
    return Promise.resolve().then(() => {
      this.throwIfFailing();
      return statement();
    });
  }

  /** Throws the injected fault, if any. */
  throwIfFailing(): void {
    const next = this.#failNext.shift();
    if (next) throw next;
    if (this.failing) throw this.failing;
  }

  /** Whether `fence` still holds its lease (a fenced write checks it in the same statement). */
  holdsLease(fence: { name: string; token: string }): boolean {
    const lease = this.leases.get(fence.name);
    return lease?.token === fence.token && !lease.released;
  }

  /** Whether the row under this key is one this service wrote (`isOurEntry`). */
  isOurs(cacheKey: string): boolean {
    return this.notes.has(cacheKey);
  }

  /**
   * A row as this service stores it: the row and its ownership note (a note left by a row another writer deleted
   * stays, taking the new row's `predictive` and store, as the SQL's upsert of the note does); in a project's own
   * account (`store`), that account registered for the tenant.
   */
  putOurRow(
    row: RowToStore,
    { predictive = false, store }: { predictive?: boolean; store?: EntryStore } = {},
  ): CacheRow {
    const stored = this.#put(row);
    const where = { storeId: store?.storeId ?? null, projectId: store?.projectId ?? null };
    const note = this.notes.get(stored.cacheKey);
    if (note) Object.assign(note, { predictive }, where);
    else
      this.notes.set(stored.cacheKey, {
        tenantId: stored.tenantId,
        createdAt: new Date(stored.createdAt),
        predictive,
        ...where,
      });
    if (store) this.registerStore(stored.tenantId, store, stored.createdAt);
    return { ...stored };
  }

  /** The upsert of audio_cache_blob_stores: the last writer's project, the latest write. */
  registerStore(tenantId: string, { storeId, projectId }: { storeId: string; projectId: string }, at: Date): void {
    const key = registryKey(tenantId, storeId);
    const row = this.registry.get(key);
    if (!row) {
      this.registry.set(key, {
        tenantId,
        storeId,
        projectId,
        firstWrittenAt: new Date(at),
        lastWrittenAt: new Date(at),
      });
      return;
    }
    row.projectId = projectId;
    if (at > row.lastWrittenAt) row.lastWrittenAt = new Date(at);
  }

  /** A row another writer (the Khipu Cloud API) stored: no ownership note. */
  putForeignRow(row: RowToStore): CacheRow {
    return { ...this.#put(row) };
  }

  /** Another writer deletes the row (its own cleanup, a tenant's cascade): an ownership note stays. */
  deleteRowAsAnotherWriter(cacheKey: string): void {
    this.rows.delete(cacheKey);
  }

  /** A segment of the Khipu Cloud API's narration pointing at this raw audio key. */
  addSegmentReference(cacheKey: string): void {
    this.segmentReferences.add(cacheKey);
  }

  /** A copy of the row under this key, or undefined. */
  row(cacheKey: string): CacheRow | undefined {
    const row = this.rows.get(cacheKey);
    return row && copyRow(row);
  }

  /** The tenant's hourly figures, in hour order. */
  usage(tenantId: string): UsageHour[] {
    const hours = this.#usage.get(tenantId) ?? new Map<number, Omit<UsageHour, 'hour'>>();
    return [...hours].sort(([a], [b]) => a - b).map(([hour, figures]) => ({ hour: new Date(hour), ...figures }));
  }

  /** Every tenant's hourly figures, by tenant id and hour. */
  allUsage(): (UsageHour & { tenantId: string })[] {
    return [...this.#usage.keys()]
      .sort()
      .flatMap((tenantId) => this.usage(tenantId).map((hour) => ({ tenantId, ...hour })));
  }

  /** Adds to the tenant's figures for the hour starting at `hour` (an upsert, as the SQL does). */
  addUsage(tenantId: string, hour: Date, add: Partial<Omit<UsageHour, 'hour'>>): void {
    let hours = this.#usage.get(tenantId);
    if (!hours) this.#usage.set(tenantId, (hours = new Map<number, Omit<UsageHour, 'hour'>>()));
    const figures = hours.get(hour.getTime()) ?? NO_USAGE;
    const sum = { ...figures };
    for (const name of Object.keys(NO_USAGE) as (keyof typeof NO_USAGE)[]) sum[name] += add[name] ?? 0;
    hours.set(hour.getTime(), sum);
  }

  /** Deletes the hours before `before`, of every tenant; returns how many. */
  deleteUsageBefore(before: Date): number {
    let removed = 0;
    for (const hours of this.#usage.values()) {
      for (const hour of [...hours.keys()]) {
        if (hour < before.getTime()) {
          hours.delete(hour);
          removed++;
        }
      }
    }
    return removed;
  }

  #put(row: RowToStore): CacheRow {
    if (this.rows.has(row.cacheKey))
      throw new Error(`memory cache database: a row under ${row.cacheKey} exists already`);
    const createdAt = row.createdAt ?? this.now();
    const stored = copyRow({
      id: randomUUID(),
      text: 'x',
      ssml: null,
      voiceId: 'es-AR-ElenaNeural',
      voiceSettings: null,
      audioBlobPath: `audio-cache/${row.tenantId}/${row.cacheKey}.mp3`,
      audioUrl: null,
      audioDurationSeconds: null,
      audioFileSizeBytes: 1024,
      hitCount: 0,
      lastAccessedAt: createdAt,
      createdAt,
      expiresAt: new Date(createdAt.getTime() + 30 * 86_400_000),
      ...row,
    });
    this.rows.set(stored.cacheKey, stored);
    return stored;
  }
}

/** The registry's primary key (tenant_id, store_id) as one map key. */
export function registryKey(tenantId: string, storeId: string): string {
  return `${tenantId}\u0000${storeId}`;
}

/** The start of the UTC hour holding `at` (`date_trunc('hour', at, 'UTC')`). */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

/** Characters as Postgres' char_length counts them: code points, not UTF-16 units. */
export function characterCount(text: string): number {
  return [...text].length;
}

/** A copy sharing no Date or settings object with the original (a database keeps its own values). */
export function copyRow(row: CacheRow): CacheRow {
  return {
    ...row,
    voiceSettings: row.voiceSettings === undefined ? null : structuredClone(row.voiceSettings),
    lastAccessedAt: new Date(row.lastAccessedAt),
    createdAt: new Date(row.createdAt),
    expiresAt: row.expiresAt && new Date(row.expiresAt),
  };
}
