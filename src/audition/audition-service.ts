import { buffer } from 'node:stream/consumers';
import { readMp3Duration } from '../audio/mp3-duration.ts';
import type { Caller, ProjectAccess } from '../auth/account-directory.ts';
import { BlobNotFoundError, type BlobStore } from '../blob/blob-store.ts';
import type { AudioCacheIndex, CacheEntry } from '../cache/audio-cache-index.ts';
import type { HitRecorder } from '../cache/hit-recorder.ts';
import type { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import type { MissLocks } from '../cache/miss-locks.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { SynthesisError, type SpeechCredentials, type Synthesizer } from '../speech/synthesizer.ts';
import type { CacheMetrics } from '../telemetry.ts';
import { Timings } from '../timing.ts';
import type { Audition } from './audition-request.ts';
import { computeCacheKey } from './cache-key.ts';
import { buildSsml } from './ssml.ts';
import { SynthesisSlots } from './synthesis-slots.ts';

export type CacheStatus = 'MISS' | 'HIT-L2' | 'BYPASS';

export interface AuditionAudio {
  status: CacheStatus;
  /**
   * The whole audio; or, for a miss whose engine streams, the audio as it is synthesized
   * (a stream that errors if the synthesis fails midway, and ends once the audio is stored).
   */
  audio: Buffer | ReadableStream<Uint8Array>;
  cacheKey: string;
  /** Known when the audio is whole (a streamed miss learns it only at the end). */
  durationSeconds: number | undefined;
}

/** Audio that is whole, as identical requests waiting for one synthesis share it. */
export type WholeAudio = AuditionAudio & { audio: Buffer };

export interface AuditionRequest {
  caller: Caller;
  project: ProjectAccess;
  audition: Audition;
  log: Logger;
  /** Where the time goes, for Server-Timing. */
  timings?: Timings;
}

export interface AuditionServiceDeps {
  index: AudioCacheIndex;
  blobStore: BlobStore;
  synthesizer: Synthesizer;
  cache: Pick<Config['cache'], 'ttlDays'>;
  /** App-wide fallback credentials, for projects without their own; synthesis limits. */
  speech: Pick<Config['speech'], 'defaultKey' | 'defaultRegion' | 'host' | 'maxConcurrency' | 'queueWaitMs' | 'timeoutMs'>;
  /** Plays are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** The in-process tier of hot audio; without it every hit reads the index and the blob. */
  memory?: MemoryAudioTier;
  /** Cross-instance coordination of misses; without it, each instance synthesizes alone. */
  missLocks?: MissLocks;
  /** Synthesis latency and failures by reason (no-ops unless telemetry is on). */
  metrics?: CacheMetrics;
  now?: Clock;
}

const DAY_MS = 86_400_000;
/** How often an instance waiting for another's synthesis looks for its entry. */
const WAIT_POLL_MS = 100;

/** A miss being filled, seen from the request that started it and from those that join it. */
interface Fill {
  /** The starter's answer: a stream as soon as the engine's first audio arrives, or whole. */
  first: AuditionAudio;
  /** The whole audio once it is stored (or found uncacheable): what the others get. */
  whole: Promise<WholeAudio>;
}

/**
 * The audition use case: the audio for one audition of one tenant, from the cache when it
 * holds it (memory, then the index and Blob Storage), else synthesized and stored. The cache
 * fails open: an index or blob fault gives an uncached answer (BYPASS) and a warning, never
 * an error.
 */
export class AuditionService {
  readonly #deps: AuditionServiceDeps;
  readonly #now: Clock;
  /** Misses being filled in this instance, by cache key: identical ones share one synthesis. */
  readonly #pending = new Map<string, PendingFill>();
  readonly #slots: SynthesisSlots;

  constructor(deps: AuditionServiceDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#slots = new SynthesisSlots(deps.speech.maxConcurrency, deps.speech.queueWaitMs);
  }

  async getAudio(request: AuditionRequest): Promise<AuditionAudio> {
    const job = this.#job(request);
    const { cacheKey, timings } = job;
    const lookupStarted = performance.now();
    const hot = this.#deps.memory?.get(cacheKey);
    timings.add('lookup', performance.now() - lookupStarted);
    // The key holds the tenant id; the check is a second lock on the same door.
    if (hot && sameTenant(hot.tenantId, job.tenantId)) {
      timings.tier = 'memory';
      this.#deps.hits.record(cacheKey, this.#now());
      return { status: 'HIT-L2', audio: hot.audio, cacheKey, durationSeconds: hot.durationSeconds };
    }

    // An identical miss is being filled here: its audio, or a wait for it.
    const pending = this.#pending.get(cacheKey);
    if (pending) return this.#join(pending, job);

    const found = await this.#lookUp(job);
    if (found.kind === 'hit') return found.audio;
    if (found.kind === 'bypass') return this.#synthesizeUncached(job);

    // Another identical request may have started filling it during our lookup.
    const started = this.#pending.get(cacheKey);
    if (started) return this.#join(started, job);
    return (await this.#startFill(job)).first;
  }

  /**
   * Makes sure an audition is cached, without playing it (no hit is counted, no audio
   * returned): `cached` when the index already holds a live entry (or an identical miss
   * being filled here stores it), `created` when it was synthesized and stored now.
   * Throws an AppError when it could not be (the synthesis's own failure, or `unavailable`
   * when the index or Blob Storage could not be used: unlike a play, a prewarm has no
   * reason to synthesize what it cannot store).
   */
  async prewarm(request: Omit<AuditionRequest, 'timings'>): Promise<{ cacheKey: string; status: 'cached' | 'created' }> {
    const job = this.#job(request);
    const { cacheKey } = job;
    const stored = async (whole: Promise<WholeAudio>, status: 'cached' | 'created') => {
      if ((await whole).status === 'BYPASS') {
        throw new AppError('unavailable', 'The audio was synthesized but could not be stored; try again shortly', { retryAfterSeconds: 5 });
      }
      return { cacheKey, status };
    };
    const pending = this.#pending.get(cacheKey);
    if (pending) return stored(pending.whole, 'cached');
    let entry: CacheEntry | null;
    try {
      entry = await this.#deps.index.find(cacheKey);
    } catch (error) {
      throw new AppError('unavailable', 'The cache index could not be read; try again shortly', { retryAfterSeconds: 5, cause: error });
    }
    if (entry && sameTenant(entry.tenantId, job.tenantId) && !(entry.expiresAt && entry.expiresAt.getTime() <= this.#now().getTime())) {
      return { cacheKey, status: 'cached' };
    }
    const started = this.#pending.get(cacheKey);
    if (started) return stored(started.whole, 'cached');
    const fill = await this.#startFill(job);
    // Nobody listens to a prewarm's audio as it streams: let it go, keep the stored result.
    if (!Buffer.isBuffer(fill.first.audio)) void fill.first.audio.cancel().catch(() => {});
    return stored(fill.whole, fill.first.status === 'HIT-L2' ? 'cached' : 'created');
  }

  /** The key this tenant's audition is cached under (its ETag too). */
  cacheKeyOf(tenantId: string, audition: Audition): string {
    return computeCacheKey({ tenantId, provider: this.#deps.synthesizer.provider, outputFormat: this.#deps.synthesizer.outputFormat, audition });
  }

  #job({ caller, project, audition, log, timings = new Timings() }: AuditionRequest): AuditionJob {
    const cacheKey = this.cacheKeyOf(caller.tenantId, audition);
    return { tenantId: caller.tenantId, cacheKey, blobPath: `audio-cache/${caller.tenantId}/${cacheKey}.mp3`, audition, project, log, timings };
  }

  /** Starts filling a miss, registered so identical requests here join it. */
  async #startFill(job: AuditionJob): Promise<Fill> {
    const { synthesizer } = this.#deps;
    // Very likely a synthesis: let the engine connect while the lock and second lookup run.
    if (synthesizer.prepare && synthesizer.requiresCredentials) {
      try {
        synthesizer.prepare(this.#credentialsFor(job.project));
      } catch {
        // No credentials: the synthesis itself answers 422.
      }
    }
    const entry: PendingFill = { whole: undefined as unknown as Promise<WholeAudio> };
    job.onSynthesized = (audio) => (entry.synthesized = audio);
    const fill = this.#fillMiss(job);
    entry.whole = fill.then((f) => f.whole);
    this.#pending.set(job.cacheKey, entry);
    void entry.whole.then(
      () => this.#pending.delete(job.cacheKey),
      () => this.#pending.delete(job.cacheKey),
    );
    return fill;
  }

  /** Stops serving the tenant's audio from this instance's memory (after a purge). */
  forgetTenant(tenantId: string): void {
    this.#deps.memory?.deleteTenant(tenantId);
  }

  /** Waits until every miss being filled here is stored (before the app stops). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#pending.values()].map((pending) => pending.whole));
  }

  /**
   * A request identical to one being filled here: once the audio is synthesized (it may still
   * be being stored) it is served from this instance, as a hit; before that, it waits for it.
   */
  async #join(pending: PendingFill, job: AuditionJob): Promise<AuditionAudio> {
    if (pending.synthesized) {
      job.timings.tier = 'memory';
      this.#deps.hits.record(job.cacheKey, this.#now());
      return { ...pending.synthesized, status: 'HIT-L2' };
    }
    job.timings.tier = 'synthesis';
    return pending.whole;
  }

  #credentialsFor(project: ProjectAccess): SpeechCredentials {
    const { defaultKey, defaultRegion, host } = this.#deps.speech;
    const credentials = project.ttsKey
      ? { key: project.ttsKey, region: project.ttsRegion ?? defaultRegion }
      : defaultKey
        ? { key: defaultKey, region: defaultRegion }
        : undefined;
    if (!credentials) {
      throw new AppError(
        'no-tts-credentials',
        'This project has no Azure TTS credentials (add the Azure key and region in the project settings: settings.creds.tts.azure, or settings.azure_tts_key), and the service has no default key',
      );
    }
    if (!credentials.region && !host) {
      throw new AppError('no-tts-credentials', 'This project has an Azure TTS key but no region (settings.creds.tts.azure.region, or settings.azure_tts_region)');
    }
    return credentials;
  }

  /** A usable cached entry's audio, or why there is none ('miss', or 'bypass' on a fault). */
  async #lookUp(job: AuditionJob): Promise<{ kind: 'hit'; audio: WholeAudio } | { kind: 'miss' } | { kind: 'bypass' }> {
    const { index, blobStore, memory } = this.#deps;
    let entry: CacheEntry | null;
    try {
      entry = await job.timings.time('lookup', () => index.find(job.cacheKey));
    } catch (error) {
      job.log.warn(`audition cache: index lookup failed, answering uncached: ${describe(error)}`);
      return { kind: 'bypass' };
    }
    if (!entry || !sameTenant(entry.tenantId, job.tenantId)) return { kind: 'miss' };
    // Expired, or (below) its blob is gone: a miss that overwrites the entry ("heals" it).
    if (entry.expiresAt && entry.expiresAt.getTime() <= this.#now().getTime()) return { kind: 'miss' };

    let audio: Buffer;
    try {
      audio = await job.timings.time('blob', async () => buffer((await blobStore.get(entry.audioBlobPath)).stream));
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        job.log.warn(`audition cache: blob missing for ${job.cacheKey.slice(0, 12)}…, healing`);
        return { kind: 'miss' };
      }
      job.log.warn(`audition cache: blob read failed, answering uncached: ${describe(error)}`);
      return { kind: 'bypass' };
    }
    const durationSeconds = entry.audioDurationSeconds ?? undefined;
    memory?.set(job.cacheKey, { tenantId: job.tenantId, audio, durationSeconds, expiresAt: entry.expiresAt });
    this.#deps.hits.record(job.cacheKey, this.#now());
    job.timings.tier = 'l2';
    return { kind: 'hit', audio: { status: 'HIT-L2', audio, cacheKey: job.cacheKey, durationSeconds } };
  }

  /**
   * One synthesis per key across instances: the instance that gets the key's lock
   * synthesizes (holding the lock until the audio is stored); the others poll the index for
   * its entry, for at most as long as a synthesis may take. A failure to coordinate
   * (database trouble) or a wait that runs out falls back to synthesizing here: the cache
   * fails open, and a caller is never left hanging.
   */
  async #fillMiss(job: AuditionJob): Promise<Fill> {
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
        const release = unlock;
        let fill: Fill;
        try {
          // The previous holder may have stored it between our lookup and our lock.
          const stored = await this.#lookUp(job);
          fill = stored.kind === 'hit' ? wholeFill(stored.audio) : await this.#synthesizeAndStore(job);
        } catch (error) {
          await release();
          throw error;
        }
        void fill.whole.catch(() => {}).finally(release);
        return fill;
      }
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
      const stored = await this.#lookUp(job);
      if (stored.kind === 'hit') return wholeFill(stored.audio);
      if (stored.kind === 'bypass') return wholeFill(await this.#synthesizeUncached(job));
      if (Date.now() > deadline) {
        job.log.warn(`audition cache: gave up waiting for another instance's synthesis of ${job.cacheKey.slice(0, 12)}…`);
        return this.#synthesizeAndStore(job);
      }
    }
  }

  /**
   * Synthesizes and stores. When the engine streams, the caller gets the audio as it comes
   * (from the first chunk on), and its response ends with the last chunk: the audio is then
   * kept in memory at once (the next request here is a hit) and stored in the background (the
   * lock, and identical requests waiting, see it through). A failure before the first chunk
   * is an error answer; a failure after it breaks the stream off (nothing is cached).
   */
  async #synthesizeAndStore(job: AuditionJob): Promise<Fill> {
    const ssml = buildSsml(job.audition);
    const stream = new AudioStream();
    const synthesis = this.#synthesize(job, ssml, (chunk) => stream.push(chunk)).then((audio) => {
      this.#remember(job, audio);
      return audio;
    });
    // Whichever comes first: the first chunk (stream it), or the whole audio (engines that
    // do not stream), or a failure (the caller gets its status).
    const streaming = await Promise.race([stream.started.then(() => true), synthesis.then(() => false)]);
    if (!streaming) return wholeFill(await this.#store(job, ssml, await synthesis));
    const whole = synthesis.then(
      (audio) => {
        stream.end();
        return this.#store(job, ssml, audio);
      },
      (error: unknown) => {
        job.log.warn(`audition: synthesis failed after streaming began, response cut off: ${describe(error)}`);
        stream.fail(error);
        throw error;
      },
    );
    return { first: { status: 'MISS', audio: stream.readable, cacheKey: job.cacheKey, durationSeconds: undefined }, whole };
  }

  /** Synthesized audio, kept in this instance before it is stored (dropped if storing fails). */
  #remember(job: AuditionJob, { audio, durationSeconds }: { audio: Buffer; durationSeconds: number | undefined }): void {
    const expiresAt = new Date(this.#now().getTime() + this.#deps.cache.ttlDays * DAY_MS);
    this.#deps.memory?.set(job.cacheKey, { tenantId: job.tenantId, audio, durationSeconds, expiresAt });
    job.onSynthesized?.({ status: 'MISS', audio, cacheKey: job.cacheKey, durationSeconds });
  }

  /** Blob first, then the row. Any fault: the audio, uncached (BYPASS), and out of memory. */
  async #store(job: AuditionJob, ssml: string, { audio, durationSeconds }: { audio: Buffer; durationSeconds: number | undefined }): Promise<WholeAudio> {
    const now = this.#now();
    const { blobStore, index, cache, memory } = this.#deps;
    try {
      // A crash between the two leaves an orphan blob (swept by the cleanup), never a row
      // pointing at nothing.
      await blobStore.put(job.blobPath, audio, 'audio/mpeg');
    } catch (error) {
      job.log.warn(`audition cache: blob upload failed, audio not cached: ${describe(error)}`);
      memory?.delete(job.cacheKey);
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
      job.log.warn(`audition cache: index write failed, audio not cached: ${describe(error)}`);
      memory?.delete(job.cacheKey);
      return { status: 'BYPASS', audio, cacheKey: job.cacheKey, durationSeconds };
    }
    return { status: 'MISS', audio, cacheKey: job.cacheKey, durationSeconds };
  }

  async #synthesizeUncached(job: AuditionJob): Promise<WholeAudio> {
    const { audio, durationSeconds } = await this.#synthesize(job, buildSsml(job.audition));
    return { status: 'BYPASS', audio, cacheKey: job.cacheKey, durationSeconds };
  }

  async #synthesize(
    job: AuditionJob,
    ssml: string,
    onAudio?: (chunk: Buffer) => void,
  ): Promise<{ audio: Buffer; durationSeconds: number | undefined }> {
    const { synthesizer } = this.#deps;
    // 422 before any work when the engine needs a key and there is none.
    const credentials = synthesizer.requiresCredentials ? this.#credentialsFor(job.project) : undefined;
    job.timings.tier = 'synthesis';
    const started = performance.now();
    let firstAudioMs: number | undefined;
    const release = await this.#slots.acquire();
    let result;
    try {
      result = await synthesizer.synthesize({
        ssml,
        audition: job.audition,
        credentials,
        onAudio: onAudio && ((chunk) => {
          // Server-Timing's synthesis phase is the wait for the first audio when it streams.
          firstAudioMs ??= performance.now() - started;
          onAudio(chunk);
        }),
      });
    } catch (error) {
      const appError = toSynthesisAppError(error);
      this.#deps.metrics?.synthesisFailed(appError.code);
      throw appError;
    } finally {
      release();
      if (firstAudioMs === undefined) job.timings.add('synthesis', performance.now() - started);
      else job.timings.add('synthesis', firstAudioMs);
    }
    this.#deps.metrics?.synthesis(performance.now() - started);
    this.#deps.hits.recordMiss(job.tenantId, this.#now()); // a synthesis paid for: a miss in the hit ratio
    const durationSeconds = (await readMp3Duration(result.audio)) ?? result.durationSeconds;
    return { audio: result.audio, durationSeconds };
  }
}

/** The audio as a web stream, fed as the synthesizer produces it. */
class AudioStream {
  readonly readable: ReadableStream<Uint8Array>;
  /** Resolves with the first chunk pushed. */
  readonly started: Promise<void>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #start!: () => void;
  /** The caller went away: the synthesis still completes and is stored. */
  #cancelled = false;

  constructor() {
    this.started = new Promise((resolve) => (this.#start = resolve));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#cancelled = true;
      },
    });
  }

  push(chunk: Buffer): void {
    this.#start();
    if (!this.#cancelled) this.#controller.enqueue(chunk);
  }

  end(): void {
    if (!this.#cancelled) this.#controller.close();
  }

  fail(error: unknown): void {
    if (!this.#cancelled) this.#controller.error(error);
  }
}

function wholeFill(audio: WholeAudio): Fill {
  return { first: audio, whole: Promise.resolve(audio) };
}

function sameTenant(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

interface AuditionJob {
  tenantId: string;
  cacheKey: string;
  blobPath: string;
  audition: Audition;
  /** Its TTS credentials are looked at only when something must be synthesized. */
  project: ProjectAccess;
  log: Logger;
  timings: Timings;
  /** Told when the audio is synthesized, before it is stored. */
  onSynthesized?: (audio: WholeAudio) => void;
}

/** A miss being filled in this instance, as identical requests find it. */
interface PendingFill {
  /** The whole audio once stored. */
  whole: Promise<WholeAudio>;
  /** Set as soon as it is synthesized. */
  synthesized?: WholeAudio;
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
