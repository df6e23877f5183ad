import { buffer } from 'node:stream/consumers';
import { readMp3Duration } from '../audio/mp3-duration.ts';
import type { Caller, ProjectAccess } from '../auth/account-directory.ts';
import { BlobNotFoundError, type BlobStore } from '../blob/blob-store.ts';
import type { AudioCacheIndex, CacheEntry } from '../cache/audio-cache-index.ts';
import type { MissLocks } from '../cache/miss-locks.ts';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { SynthesisError, type SpeechCredentials, type Synthesizer } from '../speech/synthesizer.ts';
import type { Audition } from './audition-request.ts';
import { computeCacheKey } from './cache-key.ts';
import { buildSsml } from './ssml.ts';
import { SynthesisSlots } from './synthesis-slots.ts';

export type CacheStatus = 'MISS' | 'HIT-L2' | 'BYPASS';

export interface AuditionAudio {
  status: CacheStatus;
  audio: Buffer;
  cacheKey: string;
  durationSeconds: number | undefined;
}

export interface AuditionServiceDeps {
  index: AudioCacheIndex;
  blobStore: BlobStore;
  synthesizer: Synthesizer;
  cache: Pick<Config['cache'], 'ttlDays'>;
  /** App-wide fallback credentials, for projects without their own; synthesis limits. */
  speech: Pick<Config['speech'], 'defaultKey' | 'defaultRegion' | 'host' | 'maxConcurrency' | 'queueWaitMs' | 'timeoutMs'>;
  /** Cross-instance coordination of misses; without it, each instance synthesizes alone. */
  missLocks?: MissLocks;
  now?: () => Date;
}

const DAY_MS = 86_400_000;
/** How often an instance waiting for another's synthesis looks for its entry. */
const WAIT_POLL_MS = 100;

/**
 * The audition use case: the audio for one audition of one tenant, from the cache when it
 * holds it, else synthesized and stored. The cache fails open: an index or blob fault gives an
 * uncached answer (BYPASS) and a warning, never an error.
 */
export class AuditionService {
  readonly #deps: AuditionServiceDeps;
  readonly #now: () => Date;
  /** Misses being synthesized in this instance, by cache key: identical ones share one. */
  readonly #pending = new Map<string, Promise<AuditionAudio>>();
  readonly #slots: SynthesisSlots;

  constructor(deps: AuditionServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? (() => new Date());
    this.#slots = new SynthesisSlots(deps.speech.maxConcurrency, deps.speech.queueWaitMs);
  }

  async getAudio(caller: Caller, project: ProjectAccess, audition: Audition, log: Logger): Promise<AuditionAudio> {
    const { synthesizer } = this.#deps;
    const cacheKey = computeCacheKey({
      tenantId: caller.tenantId,
      provider: synthesizer.provider,
      outputFormat: synthesizer.outputFormat,
      audition,
    });
    const job: AuditionJob = {
      tenantId: caller.tenantId,
      cacheKey,
      blobPath: `audio-cache/${caller.tenantId}/${cacheKey}.mp3`,
      audition,
      project,
      log,
    };

    const hit = await this.#lookUp(job);
    if (hit.kind === 'hit') return hit.audio;
    if (hit.kind === 'bypass') return this.#synthesizeUncached(job);

    // Identical concurrent misses in this instance wait for the first one's synthesis.
    const pending = this.#pending.get(cacheKey);
    if (pending) return pending;
    const miss = this.#fillMiss(job).finally(() => this.#pending.delete(cacheKey));
    this.#pending.set(cacheKey, miss);
    return miss;
  }

  #credentialsFor(project: ProjectAccess): SpeechCredentials {
    const { defaultKey, defaultRegion, host } = this.#deps.speech;
    const credentials = project.ttsKey
      ? { key: project.ttsKey, region: project.ttsRegion ?? defaultRegion }
      : defaultKey
        ? { key: defaultKey, region: defaultRegion }
        : undefined;
    if (!credentials) {
      throw new AppError('no-tts-credentials', 'This project has no Azure TTS credentials (settings.azure_tts_key), and the service has no default key');
    }
    if (!credentials.region && !host) {
      throw new AppError('no-tts-credentials', 'This project has an Azure TTS key but no region (settings.azure_tts_region)');
    }
    return credentials;
  }

  /** A usable cached entry's audio, or why there is none ('miss', or 'bypass' on a fault). */
  async #lookUp(job: AuditionJob): Promise<{ kind: 'hit'; audio: AuditionAudio } | { kind: 'miss' } | { kind: 'bypass' }> {
    let entry: CacheEntry | null;
    try {
      entry = await this.#deps.index.find(job.cacheKey);
    } catch (error) {
      job.log.warn(`audition cache: index lookup failed, answering uncached: ${describe(error)}`);
      return { kind: 'bypass' };
    }
    // The key holds the tenant id; the check is a second lock on the same door.
    if (!entry || entry.tenantId.toLowerCase() !== job.tenantId.toLowerCase()) return { kind: 'miss' };
    // Expired, or (below) its blob is gone: a miss that overwrites the entry ("heals" it).
    if (entry.expiresAt && entry.expiresAt.getTime() <= this.#now().getTime()) return { kind: 'miss' };

    let audio: Buffer;
    try {
      const blob = await this.#deps.blobStore.get(entry.audioBlobPath);
      audio = await buffer(blob.stream);
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        job.log.warn(`audition cache: blob missing for ${job.cacheKey.slice(0, 12)}…, healing`);
        return { kind: 'miss' };
      }
      job.log.warn(`audition cache: blob read failed, answering uncached: ${describe(error)}`);
      return { kind: 'bypass' };
    }
    try {
      await this.#deps.index.recordHit(entry.id, this.#now());
    } catch (error) {
      job.log.warn(`audition cache: could not count a hit: ${describe(error)}`);
    }
    return {
      kind: 'hit',
      audio: { status: 'HIT-L2', audio, cacheKey: job.cacheKey, durationSeconds: entry.audioDurationSeconds ?? undefined },
    };
  }

  /**
   * One synthesis per key across instances: the instance that gets the key's lock
   * synthesizes; the others poll the index for its entry, for at most as long as a synthesis
   * may take. A failure to coordinate (database trouble) or a wait that runs out falls back
   * to synthesizing here: the cache fails open, and a caller is never left hanging.
   */
  async #fillMiss(job: AuditionJob): Promise<AuditionAudio> {
    const { missLocks, speech } = this.#deps;
    if (!missLocks) return this.#synthesizeAndStore(job);
    const deadline = Date.now() + speech.queueWaitMs + speech.timeoutMs + 5_000;
    for (;;) {
      let unlock: (() => Promise<void>) | undefined;
      try {
        unlock = await missLocks.tryLock(job.cacheKey);
      } catch (error) {
        job.log.warn(`audition cache: could not coordinate the miss with other instances: ${describe(error)}`);
        return this.#synthesizeAndStore(job);
      }
      if (unlock) {
        try {
          // The previous holder may have stored it between our lookup and our lock.
          const stored = await this.#lookUp(job);
          if (stored.kind === 'hit') return stored.audio;
          return await this.#synthesizeAndStore(job);
        } finally {
          await unlock();
        }
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      const stored = await this.#lookUp(job);
      if (stored.kind === 'hit') return stored.audio;
      if (stored.kind === 'bypass') return this.#synthesizeUncached(job);
      if (Date.now() > deadline) {
        job.log.warn(`audition cache: gave up waiting for another instance's synthesis of ${job.cacheKey.slice(0, 12)}…`);
        return this.#synthesizeAndStore(job);
      }
    }
  }

  async #synthesizeAndStore(job: AuditionJob): Promise<AuditionAudio> {
    const ssml = buildSsml(job.audition);
    const { audio, durationSeconds } = await this.#synthesize(job, ssml);
    const now = this.#now();
    const { blobStore, index, cache } = this.#deps;
    try {
      // Blob first, then the row: a crash in between leaves an orphan blob (swept by the
      // cleanup), never a row pointing at nothing.
      await blobStore.put(job.blobPath, audio, 'audio/mpeg');
    } catch (error) {
      job.log.warn(`audition cache: blob upload failed, answering uncached: ${describe(error)}`);
      return { status: 'BYPASS', audio, cacheKey: job.cacheKey, durationSeconds };
    }
    const entry = {
      tenantId: job.tenantId,
      cacheKey: job.cacheKey,
      text: job.audition.text,
      ssml,
      voiceId: job.audition.voice,
      voiceSettings: {
        style: job.audition.style ?? 'none',
        styledegree: job.audition.styleDegree,
        rate_pct: job.audition.ratePct,
        pitch_pct: job.audition.pitchPct,
        provider: this.#deps.synthesizer.provider,
        output_format: this.#deps.synthesizer.outputFormat,
      },
      audioBlobPath: job.blobPath,
      audioUrl: blobStore.urlOf(job.blobPath),
      audioDurationSeconds: durationSeconds ?? null,
      audioFileSizeBytes: audio.length,
      createdAt: now,
      expiresAt: new Date(now.getTime() + cache.ttlDays * DAY_MS),
    };
    try {
      // A conflict means the key has a row already: one another instance stored meanwhile
      // (same key, same audio: keep it and its counts), or the expired one being healed.
      // A row whose blob was missing points at the path just re-uploaded, so it stands.
      const inserted = await index.insert(entry);
      if (!inserted) {
        const existing = await index.find(job.cacheKey);
        if (existing?.expiresAt && existing.expiresAt.getTime() <= now.getTime()) await index.replace(entry);
      }
    } catch (error) {
      job.log.warn(`audition cache: index write failed, answering uncached: ${describe(error)}`);
      return { status: 'BYPASS', audio, cacheKey: job.cacheKey, durationSeconds };
    }
    return { status: 'MISS', audio, cacheKey: job.cacheKey, durationSeconds };
  }

  async #synthesizeUncached(job: AuditionJob): Promise<AuditionAudio> {
    const { audio, durationSeconds } = await this.#synthesize(job, buildSsml(job.audition));
    return { status: 'BYPASS', audio, cacheKey: job.cacheKey, durationSeconds };
  }

  async #synthesize(job: AuditionJob, ssml: string): Promise<{ audio: Buffer; durationSeconds: number | undefined }> {
    const { synthesizer } = this.#deps;
    // 422 before any work when the engine needs a key and there is none.
    const credentials = synthesizer.requiresCredentials ? this.#credentialsFor(job.project) : undefined;
    const release = await this.#slots.acquire();
    let result;
    try {
      result = await synthesizer.synthesize({ ssml, audition: job.audition, credentials });
    } catch (error) {
      throw toSynthesisAppError(error);
    } finally {
      release();
    }
    const durationSeconds = (await readMp3Duration(result.audio)) ?? result.durationSeconds;
    return { audio: result.audio, durationSeconds };
  }
}

interface AuditionJob {
  tenantId: string;
  cacheKey: string;
  blobPath: string;
  audition: Audition;
  /** Its TTS credentials are looked at only when something must be synthesized. */
  project: ProjectAccess;
  log: Logger;
}

function toSynthesisAppError(error: unknown): AppError {
  if (!(error instanceof SynthesisError)) {
    return new AppError('tts-failed', 'Speech synthesis failed', { cause: error });
  }
  switch (error.failure) {
    case 'credentials-rejected':
      return new AppError('tts-credentials-rejected', 'The Azure TTS credentials were rejected by the speech service');
    case 'throttled':
      return new AppError('tts-throttled', 'The speech service is throttling requests; try again shortly', { retryAfterSeconds: 10 });
    case 'rejected-request':
      return new AppError('tts-rejected-request', 'The speech service rejected the request (check the voice and style)');
    case 'timeout':
      return new AppError('tts-timeout', 'The speech service did not answer in time');
    case 'failed':
      return new AppError('tts-failed', 'The speech service failed to synthesize the audition');
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
