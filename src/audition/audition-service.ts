import { AudioCache, type AuditionAudio, type CacheSlot, type WholeAudio } from '../cache/audio-cache.ts';
import type { HitRecorder } from '../cache/hit-recorder.ts';
import type { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import { MissFiller, wholeFill, type Fill } from '../cache/miss-filler.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Audition } from '../domain/audition.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createOutages, type Outages } from '../outage-log.ts';
import type { Caller, ProjectAccess } from '../ports/account-directory.ts';
import type { AudioCacheIndex } from '../ports/audio-cache-index.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { MissLocks } from '../ports/miss-locks.ts';
import type { SpeechBudget } from '../ports/speech-budget.ts';
import type { Synthesizer } from '../ports/synthesizer.ts';
import type { CacheMetrics } from '../telemetry.ts';
import { Timings } from '../timing.ts';
import { AudioStream } from './audio-stream.ts';
import { computeCacheKey } from './cache-key.ts';
import { TenantLimiter } from './tenant-limiter.ts';
import { SpeechSynthesis, type SynthesisJob } from './speech-synthesis.ts';
import { buildSsml } from './ssml.ts';

export type { AuditionAudio, CacheStatus, WholeAudio } from '../cache/audio-cache.ts';

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
  speech: Pick<Config['speech'], 'defaultKey' | 'defaultRegion' | 'host' | 'maxConcurrency' | 'queueWaitMs' | 'timeoutMs' | 'defaultKeyCharsPerTenantPerDay'>;
  /** Each tenant's characters per day on the default key (DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY); without it, no limit. */
  budget?: SpeechBudget;
  /** Plays and syntheses are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** The in-process tier of hot audio; without it every hit reads the index and the blob. */
  memory?: MemoryAudioTier;
  /** Cross-instance coordination of misses; without it, each instance synthesizes alone. */
  missLocks?: MissLocks;
  /** Synthesis latency and failures by reason (no-ops unless telemetry is on). */
  metrics?: CacheMetrics;
  /** A tenant's prewarm items at once in this instance, across all its prewarm requests (PREWARM_CONCURRENCY). */
  prewarmConcurrency?: number;
  now?: Clock;
  /** Where failures of the database and Blob Storage are logged, once per outage. */
  outages?: Outages;
}

/** One audition on its way: the cache's slot for it and what a synthesis needs. */
type AuditionJob = CacheSlot & SynthesisJob;

/** Past the slot wait and the synthesis's own timeout, a holder elsewhere is presumed stuck. */
const HOLDER_GRACE_MS = 5_000;

/**
 * The audition use case: the audio for one audition of one tenant, from the cache when it
 * holds it (memory, then the index and Blob Storage), else synthesized once (however many ask
 * for it, here or on other instances) and stored. The cache fails open: an index or blob fault
 * gives an uncached answer (BYPASS) and a warning, never an error.
 */
export class AuditionService {
  readonly #synthesizer: Synthesizer;
  readonly #cache: AudioCache;
  readonly #misses: MissFiller;
  readonly #synthesis: SpeechSynthesis;
  /** Bounds a tenant's prewarm (several tabs, a script) so it cannot take every synthesis slot. */
  readonly #prewarms: TenantLimiter;
  readonly #outages: Outages;

  constructor(deps: AuditionServiceDeps) {
    const now = deps.now ?? systemClock;
    const outages = deps.outages ?? createOutages();
    this.#outages = outages;
    const { synthesizer, speech, hits } = deps;
    this.#synthesizer = synthesizer;
    this.#prewarms = new TenantLimiter(deps.prewarmConcurrency ?? 4);
    this.#cache = new AudioCache({
      index: deps.index,
      blobStore: deps.blobStore,
      hits,
      memory: deps.memory,
      ttlDays: deps.cache.ttlDays,
      engine: { provider: synthesizer.provider, outputFormat: synthesizer.outputFormat },
      now,
      outages,
    });
    this.#misses = new MissFiller({
      cache: this.#cache,
      missLocks: deps.missLocks,
      maxWaitMs: speech.queueWaitMs + speech.timeoutMs + HOLDER_GRACE_MS,
      now,
      databaseOutage: outages.database,
    });
    this.#synthesis = new SpeechSynthesis({
      synthesizer,
      speech,
      metrics: deps.metrics,
      budget: deps.budget,
      now,
      databaseOutage: outages.database,
      onSynthesized: (tenantId) => hits.recordMiss(tenantId, now()),
    });
  }

  async getAudio(request: AuditionRequest): Promise<AuditionAudio> {
    const job = this.#job(request);
    const hot = this.#cache.fromMemory(job);
    if (hot) return hot;
    // An identical miss is being filled here: its audio, or a wait for it.
    const joined = this.#misses.join(job);
    if (joined) return joined;

    // A stored entry streams to this caller from its first chunk on.
    const found = await this.#cache.lookUpStreaming(job);
    if (found.kind === 'hit') return found.audio;
    if (found.kind === 'bypass') return this.#synthesizeUncached(job);
    // Another identical request may have started filling it during our lookup.
    return this.#misses.join(job) ?? (await this.#startFill(job)).first;
  }

  /**
   * Makes sure an audition is cached, without playing it (no hit is counted, no audio
   * returned): `cached` when the index already holds a live entry (or an identical miss
   * being filled here stores it), `created` when it was synthesized and stored now.
   * Throws an AppError when it could not be (the synthesis's own failure, or `unavailable`
   * when the index or Blob Storage could not be used: unlike a play, a prewarm has no
   * reason to synthesize what it cannot store). At most `prewarmConcurrency` of a tenant's
   * prewarms run at once in this instance; the rest wait their turn.
   */
  prewarm(request: Omit<AuditionRequest, 'timings'>): Promise<{ cacheKey: string; status: 'cached' | 'created' }> {
    return this.#prewarms.run(request.caller.tenantId, () => this.#prewarmOne(request));
  }

  async #prewarmOne(request: Omit<AuditionRequest, 'timings'>): Promise<{ cacheKey: string; status: 'cached' | 'created' }> {
    const job = this.#job(request);
    const { cacheKey } = job;
    const stored = async (whole: Promise<WholeAudio>, status: 'cached' | 'created') => {
      if ((await whole).status === 'BYPASS') {
        throw new AppError('unavailable', 'The audio was synthesized but could not be stored; try again shortly', { retryAfterSeconds: 5 });
      }
      return { cacheKey, status };
    };
    const pending = this.#misses.pendingResult(cacheKey);
    if (pending) return stored(pending, 'cached');
    if (await this.#cache.holds(job)) return { cacheKey, status: 'cached' };
    const started = this.#misses.pendingResult(cacheKey);
    if (started) return stored(started, 'cached');
    const fill = await this.#startFill(job);
    // Nobody listens to a prewarm's audio as it streams: let it go, keep the stored result.
    if (!Buffer.isBuffer(fill.first.audio)) void fill.first.audio.cancel().catch(() => {});
    return stored(fill.whole, fill.first.status === 'HIT-L2' ? 'cached' : 'created');
  }

  /** The key this tenant's audition is cached under (its ETag too). */
  cacheKeyOf(tenantId: string, audition: Audition): string {
    return computeCacheKey({ tenantId, provider: this.#synthesizer.provider, outputFormat: this.#synthesizer.outputFormat, audition });
  }

  /** Stops serving the tenant's audio from this instance's memory (after a purge). */
  forgetTenant(tenantId: string): void {
    this.#cache.forgetTenant(tenantId);
  }

  /** Waits until every miss being filled here is stored (before the app stops). */
  drain(): Promise<void> {
    return this.#misses.drain();
  }

  #job({ caller, project, audition, log, timings = new Timings() }: AuditionRequest): AuditionJob {
    return { tenantId: caller.tenantId, cacheKey: this.cacheKeyOf(caller.tenantId, audition), audition, project, log, timings };
  }

  #startFill(job: AuditionJob): Promise<Fill> {
    // Very likely a synthesis: let the engine connect while the lock and second lookup run.
    this.#synthesis.prepare(job.project);
    return this.#misses.fill(job, {
      synthesizeAndStore: (onSynthesized) => this.#synthesizeAndStore(job, onSynthesized),
      synthesizeUncached: () => this.#synthesizeUncached(job),
    });
  }

  /**
   * Synthesizes and stores. When the engine streams, the caller gets the audio as it comes
   * (from the first chunk on), and its response ends with the last chunk: the audio is then
   * kept in memory at once (the next request here is a hit) and stored in the background (the
   * lock, and identical requests waiting, see it through). A failure before the first chunk
   * is an error answer; a failure after it breaks the stream off (nothing is cached).
   */
  async #synthesizeAndStore(job: AuditionJob, onSynthesized: (audio: WholeAudio) => void): Promise<Fill> {
    const ssml = buildSsml(job.audition);
    const stream = new AudioStream();
    const synthesis = this.#synthesis
      .synthesize(job, ssml, (chunk) => stream.push(chunk))
      .then((audio) => {
        this.#outages.speech.succeeded(job.log);
        this.#cache.remember(job, audio);
        onSynthesized({ status: 'MISS', ...audio, cacheKey: job.cacheKey });
        return audio;
      });
    // Whichever comes first: the first chunk (stream it), or the whole audio (engines that
    // do not stream), or a failure (the caller gets its status).
    const streaming = await Promise.race([stream.started.then(() => true), synthesis.then(() => false)]);
    if (!streaming) return wholeFill(await this.#cache.store(job, job.audition, ssml, await synthesis));
    const whole = synthesis.then(
      (audio) => {
        stream.end();
        return this.#cache.store(job, job.audition, ssml, audio);
      },
      (error: unknown) => {
        const reason = error instanceof AppError && error.cause !== undefined ? error.cause : error;
        this.#outages.speech.failed(job.log, 'audition: synthesis failed after streaming began, response cut off', reason);
        stream.fail(error);
        throw error;
      },
    );
    return { first: { status: 'MISS', audio: stream.readable, cacheKey: job.cacheKey, durationSeconds: undefined }, whole };
  }

  async #synthesizeUncached(job: AuditionJob): Promise<WholeAudio> {
    const audio = await this.#synthesis.synthesize(job, buildSsml(job.audition));
    return { status: 'BYPASS', ...audio, cacheKey: job.cacheKey };
  }
}
