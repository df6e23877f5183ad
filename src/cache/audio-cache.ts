import { systemClock, type Clock } from '../clock.ts';
import { voiceSettingsOf, type Audition } from '../domain/audition.ts';
import { sameTenant, type AuditionAudio, type SynthesizedAudition, type WholeAudio } from '../domain/audition-audio.ts';
import { audioBlobPath } from '../domain/blob-layout.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Outages } from '../outage-log.ts';
import type { AudioCacheIndex, CacheEntry, NewCacheEntry } from '../ports/audio-cache-index.ts';
import { BlobNotFoundError, type BlobStore } from '../ports/blob-store.ts';
import { LeaseLostError } from '../ports/leases.ts';
import type { Timings } from '../timing.ts';
import type { HeldLease } from './held-lease.ts';
import type { HitRecorder } from './hit-recorder.ts';
import { continueStream, openBlob, readRest, type OpenedEntry } from './blob-audio.ts';
import type { MemoryAudioTier } from './memory-audio-tier.ts';
import type { ProjectStoreStatus, LineStore } from './project-stores.ts';

/** A line (one tenant's cache key) being looked up or stored, with the request's log and timings. */
export interface CacheLine {
  tenantId: string;
  cacheKey: string;
  log: Logger;
  timings: Timings;
  predictive?: boolean; // stored by a predictive prewarm: counted as its spend, its plays as its hits
  /** The project's own storage account, where its blob is read and stored; absent: the operator's account. */
  store?: LineStore;
}

export type Lookup = { kind: 'hit'; audio: WholeAudio } | { kind: 'miss' } | { kind: 'bypass' };

/** A lookup whose hit is streamed from its first chunk on. */
export type StreamedLookup = { kind: 'hit'; audio: AuditionAudio } | { kind: 'miss' } | { kind: 'bypass' };

export interface AudioCacheDeps {
  index: AudioCacheIndex;
  blobStore: BlobStore;
  /** Plays are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** The in-process tier of hot audio (none: every hit reads the index and the blob). */
  memory?: MemoryAudioTier;
  ttlDays: number;
  /** Recorded in each entry's voice_settings (part of the key already). */
  engine: { provider: string; outputFormat: string };
  now?: Clock;
  /** Where failures of the index and Blob Storage are logged, once per outage. */
  outages: Outages;
  /** Where failures of projects' own storage accounts are logged, once per outage each, and kept for health. */
  projectStores: ProjectStoreStatus;
}

const DAY_MS = 86_400_000;

/**
 * The cache's tiers as the audition use case sees them: memory, then the index and Blob Storage. It fails open: an
 * index or blob fault is a `bypass` (an uncached answer) and a warning, never an error. It owns the blob layout and the
 * order of writes (blob, then row).
 */
export class AudioCache {
  readonly #deps: AudioCacheDeps;
  readonly #now: Clock;
  readonly #outages: Outages;
  readonly #projectStores: ProjectStoreStatus;
  /** Purges from memory per tenant: a stream that began before one does not refill it. */
  readonly #purges = new Map<string, number>();

  constructor(deps: AudioCacheDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#outages = deps.outages;
    this.#projectStores = deps.projectStores;
  }

  /** The tenant's audio if this instance holds it in memory (a play, counted). */
  fromMemory(line: CacheLine): WholeAudio | undefined {
    const lookupStarted = performance.now();
    const hot = this.#deps.memory?.get(line.cacheKey);
    line.timings.add('lookup', performance.now() - lookupStarted);
    // The key holds the tenant id; the check is a second lock on the same door.
    if (!hot || !sameTenant(hot.tenantId, line.tenantId)) return undefined;
    this.recordPlay(line.cacheKey);
    return { status: 'HIT-L2', audio: hot.audio, cacheKey: line.cacheKey, durationSeconds: hot.durationSeconds };
  }

  /**
   * A usable stored entry's whole audio (a play, counted, and kept in memory), or why there is none: for a request that
   * shares it with others (a miss found stored meanwhile).
   */
  async lookUp(line: CacheLine): Promise<Lookup> {
    const opened = await this.#open(line);
    return opened.kind === 'open' ? this.#readWhole(line, opened) : opened;
  }

  /**
   * A usable stored entry's audio as it arrives from Blob Storage, from its first chunk on, with its length (a play,
   * counted; kept in memory once it has all passed), or why there is none. A fault before the first chunk is a
   * `bypass`; one after it breaks the stream off.
   */
  async lookUpStreaming(line: CacheLine): Promise<StreamedLookup> {
    const opened = await this.#open(line);
    if (opened.kind !== 'open') return opened;
    const { entry, first, size } = opened;
    // All of it came in the first chunk (a short line): read its end, answer it whole.
    if (first.done || first.value.length >= size) return this.#readWhole(line, opened);
    const hit = this.#hitOf(line, entry, undefined);
    // Kept in memory once all of it has passed, if this instance keeps audio of that size,
    // and unless the tenant's audio was purged from memory meanwhile.
    const purges = this.#purgesOf(line.tenantId);
    const keep = this.#deps.memory?.fits(size)
      ? (audio: Buffer) => {
          if (this.#purgesOf(line.tenantId) === purges) this.#keep(line, entry, audio);
        }
      : undefined;
    const cutOff = 'audition cache: blob read broke off after streaming began, response cut off';
    const broken = (error: unknown) => this.#blobOutage(line).failed(line.log, cutOff, error);
    return {
      kind: 'hit',
      audio: { ...hit, audio: continueStream(first.value, opened, keep, broken), sizeBytes: size },
    };
  }

  /**
   * Whether the index holds a live entry of the tenant under this key, without reading its audio or counting a play (a
   * prewarm). Throws `unavailable` when the index cannot be read.
   */
  async holds(line: Pick<CacheLine, 'tenantId' | 'cacheKey'>): Promise<boolean> {
    let entry: CacheEntry | null;
    try {
      entry = await this.#deps.index.find(line.cacheKey);
    } catch (error) {
      throw new AppError('unavailable', 'The cache index could not be read; try again shortly', {
        retryAfterSeconds: 5,
        cause: error,
      });
    }
    return this.#isLive(entry, line.tenantId);
  }

  /** Keeps synthesized audio in this instance before it is stored (dropped if storing fails). */
  remember(line: CacheLine, { audio, durationSeconds }: SynthesizedAudition): void {
    this.#deps.memory?.set(line.cacheKey, {
      tenantId: line.tenantId,
      audio,
      durationSeconds,
      expiresAt: this.#expiry(this.#now()),
    });
  }

  /**
   * Blob first, then the row. Any fault: the audio, uncached (BYPASS), and out of memory. Under a line's `lease`, only
   * while it is still ours: proven before the upload, and the row written fenced by it. A holder that lost its lease
   * (it froze, another instance took the line over) answers its audio uncached and leaves the new holder's entry be.
   */
  async store(
    line: CacheLine,
    audition: Audition,
    ssml: string,
    { audio, durationSeconds }: SynthesizedAudition,
    lease?: HeldLease,
  ): Promise<WholeAudio> {
    const now = this.#now();
    const { index, memory, engine } = this.#deps;
    const blobStore = this.#blobsOf(line);
    const blobPath = audioBlobPath(line.tenantId, line.cacheKey);
    const notStored = (): WholeAudio => {
      memory?.delete(line.cacheKey);
      return { status: 'BYPASS', audio, cacheKey: line.cacheKey, durationSeconds };
    };
    const uncached = (what: 'blob upload' | 'index write', error: unknown): WholeAudio => {
      const outage = what === 'blob upload' ? this.#blobOutage(line) : this.#outages.database;
      outage.failed(line.log, `audition cache: ${what} failed, audio not cached`, error);
      return notStored();
    };
    const lostLease = (): WholeAudio => {
      line.log.warn(
        `audition cache: lost the lease of ${line.cacheKey.slice(0, 12)}… before storing it ` +
          '(another instance took the line over); answering uncached',
      );
      return notStored();
    };
    // Known lost: nothing to upload. A proof the database could not give (an outage) is left to the fenced row write,
    // which fails as an index write, logged once per outage rather than as a lost lease on every miss.
    if (lease && !(await lease.prove()) && lease.lost) return lostLease();
    try {
      // A crash between the two leaves an orphan blob (swept by the cleanup), never a row
      // pointing at nothing.
      await blobStore.put(blobPath, audio, 'audio/mpeg');
      this.#blobOutage(line).succeeded(line.log);
    } catch (error) {
      return uncached('blob upload', error);
    }
    const [url, expiresAt] = [blobStore.urlOf(blobPath), this.#expiry(now)];
    const blob = { path: blobPath, url, engine, createdAt: now, expiresAt };
    const entry = newCacheEntry(line, audition, ssml, { audio, durationSeconds }, blob);
    try {
      // A conflict means the key has a row already: one another instance stored meanwhile
      // (same key, same audio: keep it and its counts), or the expired one being healed.
      // A row whose blob was missing points at the path just re-uploaded, so it stands.
      const inserted = await index.insert(entry, lease?.grant);
      if (!inserted) {
        const existing = await index.find(line.cacheKey);
        if (existing?.expiresAt && existing.expiresAt.getTime() <= now.getTime())
          await index.replace(entry, lease?.grant);
      }
      this.#outages.database.succeeded(line.log);
    } catch (error) {
      if (error instanceof LeaseLostError) return lostLease();
      return uncached('index write', error);
    }
    return { status: 'MISS', audio, cacheKey: line.cacheKey, durationSeconds };
  }

  /** A play served from this instance (memory, or a request joining one being filled). */
  recordPlay(cacheKey: string): void {
    this.#deps.hits.record(cacheKey, this.#now());
  }

  /** Stops serving the tenant's audio from this instance's memory (after a purge). */
  forgetTenant(tenantId: string): void {
    const tenant = tenantId.toLowerCase();
    this.#purges.set(tenant, (this.#purges.get(tenant) ?? 0) + 1);
    this.#deps.memory?.deleteTenant(tenantId);
  }

  /** How many times the tenant's audio was purged from this instance's memory. */
  #purgesOf(tenantId: string): number {
    return this.#purges.get(tenantId.toLowerCase()) ?? 0;
  }

  /** The live entry's blob, opened up to its first chunk, or why there is none. */
  async #open(line: CacheLine): Promise<OpenedEntry | { kind: 'miss' } | { kind: 'bypass' }> {
    const { index } = this.#deps;
    const blobStore = this.#blobsOf(line);
    let entry: CacheEntry | null;
    try {
      entry = await line.timings.time('lookup', () => index.find(line.cacheKey));
      this.#outages.database.succeeded(line.log);
    } catch (error) {
      this.#outages.database.failed(line.log, 'audition cache: index lookup failed, answering uncached', error);
      return { kind: 'bypass' };
    }
    if (!this.#isLive(entry, line.tenantId)) return { kind: 'miss' };
    if (entry.storeId !== (line.store?.storeId ?? null)) {
      // Stored in another account than this line's (never by this service's keys, which name the account): it is
      // not this request's to read, heal or delete. Answered uncached, the entry left as it is.
      line.log.warn(`audition cache: ${line.cacheKey.slice(0, 12)}… is stored in another account, answering uncached`);
      return { kind: 'bypass' };
    }
    const live = entry;
    try {
      const opened = await line.timings.time('blob', () => openBlob(blobStore, live));
      this.#blobOutage(line).succeeded(line.log);
      return opened;
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        // Its blob is gone: a miss that overwrites the entry ("heals" it), in the same account.
        this.#blobOutage(line).succeeded(line.log);
        line.log.warn(`audition cache: blob missing for ${line.cacheKey.slice(0, 12)}…, healing`);
        return { kind: 'miss' };
      }
      this.#blobOutage(line).failed(line.log, 'audition cache: blob read failed, answering uncached', error);
      return { kind: 'bypass' };
    }
  }

  /** The opened blob read to its end: the hit, or a `bypass` when the read fails or gives other than its length. */
  async #readWhole(line: CacheLine, { entry, first, blob, size }: OpenedEntry): Promise<Lookup> {
    let audio: Buffer;
    try {
      audio = await line.timings.time('blob', () => readRest(first, blob));
      // A length of 0 is a store that did not say (it is never a stored audition's).
      if (size > 0 && audio.length !== size) throw new Error(`the blob gave ${audio.length} bytes, not its ${size}`);
    } catch (error) {
      this.#blobOutage(line).failed(line.log, 'audition cache: blob read failed, answering uncached', error);
      return { kind: 'bypass' };
    }
    return { kind: 'hit', audio: this.#hitOf(line, entry, audio) };
  }

  /** A play of a stored entry: counted, kept in memory when whole, served from L2. */
  #hitOf(line: CacheLine, entry: CacheEntry, audio: Buffer): WholeAudio;
  #hitOf(line: CacheLine, entry: CacheEntry, audio: undefined): Omit<AuditionAudio, 'audio'>;
  #hitOf(line: CacheLine, entry: CacheEntry, audio: Buffer | undefined): WholeAudio | Omit<AuditionAudio, 'audio'> {
    if (audio) this.#keep(line, entry, audio);
    this.recordPlay(line.cacheKey);
    const found = {
      status: 'HIT-L2' as const,
      cacheKey: line.cacheKey,
      durationSeconds: entry.audioDurationSeconds ?? undefined,
    };
    return audio ? { ...found, audio } : found;
  }

  #keep(line: CacheLine, entry: CacheEntry, audio: Buffer): void {
    this.#deps.memory?.set(line.cacheKey, {
      tenantId: line.tenantId,
      audio,
      durationSeconds: entry.audioDurationSeconds ?? undefined,
      expiresAt: entry.expiresAt,
    });
  }

  /** Where this line's blob is read and stored: its project's own account, else the operator's. */
  #blobsOf(line: CacheLine): BlobStore {
    return line.store?.blobs ?? this.#deps.blobStore;
  }

  /** Where a blob failure of this line is logged: its project account's own outage, else Blob Storage's. */
  #blobOutage(line: CacheLine): Pick<Outages['blobStorage'], 'failed' | 'succeeded'> {
    return line.store ? this.#projectStores.outageFor(line.store) : this.#outages.blobStorage;
  }

  #isLive(entry: CacheEntry | null, tenantId: string): entry is CacheEntry {
    if (!entry || !sameTenant(entry.tenantId, tenantId)) return false;
    return !(entry.expiresAt && entry.expiresAt.getTime() <= this.#now().getTime());
  }

  #expiry(from: Date): Date {
    return new Date(from.getTime() + this.#deps.ttlDays * DAY_MS);
  }
}

/** The index row of a synthesized audition whose blob was just stored at `blob.path` (in the line's account). */
function newCacheEntry(
  line: CacheLine,
  audition: Audition,
  ssml: string,
  { audio, durationSeconds }: SynthesizedAudition,
  blob: {
    path: string;
    url: string;
    engine: { provider: string; outputFormat: string };
    createdAt: Date;
    expiresAt: Date;
  },
): NewCacheEntry {
  return {
    tenantId: line.tenantId,
    cacheKey: line.cacheKey,
    text: audition.text,
    ssml,
    voiceId: audition.voice,
    voiceSettings: voiceSettingsOf(audition, blob.engine),
    audioBlobPath: blob.path,
    audioUrl: blob.url,
    audioDurationSeconds: durationSeconds ?? null,
    audioFileSizeBytes: audio.length,
    createdAt: blob.createdAt,
    expiresAt: blob.expiresAt,
    predictive: line.predictive === true,
    ...(line.store ? { store: { storeId: line.store.storeId, projectId: line.store.projectId } } : {}),
  };
}
