import { AudioCache } from '../cache/audio-cache.ts';
import type { HeldLease } from '../cache/held-lease.ts';
import type { HitRecorder } from '../cache/hit-recorder.ts';
import type { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import { MissTurns } from '../cache/miss-turns.ts';
import type { ProjectStoreStatus } from '../cache/project-stores.ts';
import { SingleFlight, type Flight } from '../cache/single-flight.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Audition } from '../domain/audition.ts';
import type { AuditionAudio, SynthesizedAudition, WholeAudio } from '../domain/audition-audio.ts';
import { AppError } from '../errors.ts';
import type { Outages } from '../outage-log.ts';
import type { ProjectAccess } from '../ports/account-directory.ts';
import type { AudioCacheIndex } from '../ports/audio-cache-index.ts';
import type { BlobStore, ProjectBlobStores } from '../ports/blob-store.ts';
import type { Leases } from '../ports/leases.ts';
import type { SpeechBudget } from '../ports/speech-budget.ts';
import type { SpeechCredentials, Synthesizer } from '../ports/synthesizer.ts';
import type { CacheMetrics } from '../telemetry.ts';
import type { Tier } from '../timing.ts';
import { AudioStream } from './audio-stream.ts';
import {
  auditionJob,
  cacheKeyOf,
  type AuditionJob,
  type AuditionJobDeps,
  type AuditionRequest,
} from './audition-job.ts';
import { TenantLimiter } from './tenant-limiter.ts';
import { SpeechSynthesis } from './speech-synthesis.ts';
import { buildSsml } from './ssml.ts';

export type { AuditionAudio, CacheStatus, WholeAudio } from '../domain/audition-audio.ts';
export type { AuditionRequest } from './audition-job.ts';

/** An audition's audio and the tier that answered it (Server-Timing's `tier`). */
export type AuditionAnswer = AuditionAudio & { tier: Tier };

export interface AuditionServiceDeps {
  index: AudioCacheIndex;
  /** The operator's account (AZURE_STORAGE_*). */
  blobStore: BlobStore;
  /**
   * Projects' own storage accounts (settings.creds.storage.azure). Without them a project's own account is not used:
   * its auditions go to the operator's (tests only).
   */
  projectStores?: ProjectBlobStores;
  /** What this instance knows of project accounts' failures: the app's one, which health and stats read too. */
  projectStoreStatus: ProjectStoreStatus;
  synthesizer: Synthesizer;
  cache: Pick<Config['cache'], 'ttlDays' | 'lineLeaseMs'>;
  /** App-wide fallback credentials, for projects without their own; synthesis limits. */
  speech: Pick<
    Config['speech'],
    | 'defaultKey'
    | 'defaultRegion'
    | 'host'
    | 'maxConcurrency'
    | 'queueWaitMs'
    | 'timeoutMs'
    | 'defaultKeyCharsPerTenantPerDay'
  >;
  /** Each tenant's characters per day on the default key (DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY); none: no limit. */
  budget?: SpeechBudget;
  /** Plays and syntheses are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** The in-process tier of hot audio; without it every hit reads the index and the blob. */
  memory?: MemoryAudioTier;
  /** Cross-instance coordination of misses (a lease per line); without it, each instance synthesizes alone. */
  leases?: Leases;
  /** Synthesis latency and failures by reason (no-ops unless telemetry is on). */
  metrics?: CacheMetrics;
  /** A tenant's prewarm items at once in this instance, across all its prewarm requests (PREWARM_CONCURRENCY). */
  prewarmConcurrency?: number;
  now?: Clock;
  /** Where failures of the database, Blob Storage and the speech service are logged, once per outage. */
  outages: Outages;
}

export interface PrewarmResult {
  cacheKey: string;
  status: 'cached' | 'created';
}

/** A miss being filled: the starter's answer (a stream from the first chunk on, or whole), and the stored whole. */
interface Fill {
  first: AuditionAnswer;
  whole: Promise<WholeAudio>;
}

/**
 * Past the slot wait and the synthesis's own timeout, the wait for a holder elsewhere ends
 * (its lease is still renewed).
 */
const HOLDER_GRACE_MS = 5_000;

/**
 * The audition use case: the audio for one audition of one tenant, from the cache when it holds it (memory, then the
 * index and Blob Storage), else synthesized once (however many ask for it, here or on other instances) and stored. The
 * cache fails open: an index or blob fault gives an uncached answer (BYPASS) and a warning, never an error.
 */
export class AuditionService {
  readonly #synthesizer: Synthesizer;
  readonly #cache: AudioCache;
  /** Misses being filled in this instance: identical requests join them. */
  readonly #flights = new SingleFlight<WholeAudio>();
  readonly #turns: MissTurns;
  readonly #synthesis: SpeechSynthesis;
  readonly #hits: HitRecorder;
  /** Bounds a tenant's prewarm (several tabs, a script) so it cannot take every synthesis slot. */
  readonly #prewarms: TenantLimiter;
  readonly #outages: Outages;
  readonly #now: Clock;
  readonly #jobDeps: AuditionJobDeps;
  readonly #projectStoreStatus: ProjectStoreStatus;

  constructor(deps: AuditionServiceDeps) {
    const now = (this.#now = deps.now ?? systemClock);
    const outages = (this.#outages = deps.outages);
    const { synthesizer, speech } = deps;
    this.#synthesizer = synthesizer;
    this.#hits = deps.hits;
    this.#prewarms = new TenantLimiter(deps.prewarmConcurrency ?? 4);
    this.#jobDeps = { engine: synthesizer, projectStores: deps.projectStores };
    this.#projectStoreStatus = deps.projectStoreStatus;
    this.#cache = new AudioCache({
      projectStores: this.#projectStoreStatus,
      index: deps.index,
      blobStore: deps.blobStore,
      hits: deps.hits,
      memory: deps.memory,
      ttlDays: deps.cache.ttlDays,
      engine: { provider: synthesizer.provider, outputFormat: synthesizer.outputFormat },
      now,
      outages,
    });
    this.#turns = new MissTurns({
      cache: this.#cache,
      leases: deps.leases,
      leaseTtlMs: deps.cache.lineLeaseMs,
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
    });
  }

  /**
   * The read-through pipeline: memory → an identical miss in flight here → the index and Blob Storage → (a miss) the
   * key's turn across instances → synthesize → store. Each step answers a value; the first that has the audio answers
   * the caller.
   */
  async getAudio(request: AuditionRequest): Promise<AuditionAnswer> {
    const job = this.#job(request);
    if (job.unusableStore !== undefined) {
      this.#projectStoreStatus.unusable(job.log, job.project.id, job.tenantId, job.unusableStore);
      return served(job, 'synthesis', await this.#synthesizeUncached(job));
    }
    const hot = this.#cache.fromMemory(job);
    if (hot) return served(job, 'memory', hot);

    const inFlight = this.#flights.find(job.cacheKey);
    if (inFlight) return this.#join(job, inFlight);

    // A stored entry streams to this caller from its first chunk on.
    const found = await this.#cache.lookUpStreaming(job);
    if (found.kind === 'hit') return served(job, 'l2', found.audio);
    if (found.kind === 'bypass') return served(job, 'synthesis', await this.#synthesizeUncached(job));

    // Another identical request may have started filling it during our lookup.
    const startedMeanwhile = this.#flights.find(job.cacheKey);
    if (startedMeanwhile) return this.#join(job, startedMeanwhile);
    const fill = await this.#startFill(job);
    return fill.first;
  }

  /**
   * Makes sure an audition is cached, without playing it (no hit is counted, no audio returned): `cached` when the
   * index already holds a live entry (or an identical miss being filled here stores it), `created` when it was
   * synthesized and stored now. Throws an AppError when it could not be (the synthesis's own failure, or `unavailable`
   * when the index or Blob Storage could not be used: unlike a play, a prewarm has no reason to synthesize what it
   * cannot store). At most `prewarmConcurrency` of a tenant's prewarms run at once in this instance; the rest wait
   * their turn.
   */
  prewarm(request: Omit<AuditionRequest, 'timings'>): Promise<PrewarmResult> {
    return this.#prewarms.run(request.caller.tenantId, () => this.#prewarmOne(request));
  }

  /** The key this tenant's audition is cached under (its ETag too), in the project's own account if it has one. */
  cacheKeyOf(tenantId: string, audition: Audition, project?: ProjectAccess): string {
    return cacheKeyOf(this.#jobDeps, tenantId, audition, project);
  }

  /**
   * The key a synthesis for this project uses (its own, else the service's); undefined for an engine that needs none.
   * Throws the 422 AppError when there is none to use.
   */
  credentialsFor(project: AuditionRequest['project']): SpeechCredentials | undefined {
    return this.#synthesizer.requiresCredentials ? this.#synthesis.credentialsFor(project) : undefined;
  }

  /** Stops serving the tenant's audio from this instance's memory (after a purge). */
  forgetTenant(tenantId: string): void {
    this.#cache.forgetTenant(tenantId);
  }

  /** Waits until every miss being filled here is stored (before the app stops). */
  drain(): Promise<void> {
    return this.#flights.drain();
  }

  async #prewarmOne(request: Omit<AuditionRequest, 'timings'>): Promise<PrewarmResult> {
    const job = this.#job(request);
    if (job.unusableStore !== undefined) {
      throw new AppError('unavailable', `The project's storage account settings cannot be used: ${job.unusableStore}`);
    }
    const { cacheKey } = job;
    const inFlight = this.#flights.find(cacheKey);
    if (inFlight) return prewarmed(cacheKey, inFlight.landed, 'cached');
    if (await this.#cache.holds(job)) return { cacheKey, status: 'cached' };
    const startedMeanwhile = this.#flights.find(cacheKey);
    if (startedMeanwhile) return prewarmed(cacheKey, startedMeanwhile.landed, 'cached');
    const fill = await this.#startFill(job);
    // Nobody listens to a prewarm's audio as it streams: let it go, keep the stored result.
    if (!Buffer.isBuffer(fill.first.audio)) void fill.first.audio.cancel().catch(() => {});
    return prewarmed(cacheKey, fill.whole, fill.first.status === 'HIT-L2' ? 'cached' : 'created');
  }

  #job(request: AuditionRequest): AuditionJob {
    return auditionJob(this.#jobDeps, request);
  }

  /**
   * An identical miss being filled here: once its audio is synthesized (it may still be being stored) it is served from
   * this instance, as a hit; before that, the request waits for it.
   */
  async #join(job: AuditionJob, flight: Flight<WholeAudio>): Promise<AuditionAnswer> {
    if (flight.published) {
      this.#cache.recordPlay(job.cacheKey);
      return served(job, 'memory', { ...flight.published, status: 'HIT-L2' });
    }
    job.timings.tier = 'synthesis';
    return served(job, 'synthesis', await flight.landed);
  }

  /** Fills a miss as a flight identical requests here join; it lands once the audio is stored. */
  #startFill(job: AuditionJob): Promise<Fill> {
    const flight = this.#flights.begin(job.cacheKey);
    const fill = this.#fill(job, flight);
    flight.land(fill.then((f) => f.whole));
    return fill;
  }

  async #fill(job: AuditionJob, flight: Flight<WholeAudio>): Promise<Fill> {
    // Very likely a synthesis: let the engine connect while the lock and second lookup run.
    this.#synthesis.prepare(job.project);
    const turn = await this.#turns.awaitTurn(job);
    if (turn.kind === 'stored') return wholeFill(served(job, 'l2', turn.audio));
    if (turn.kind === 'uncached') return wholeFill(served(job, 'synthesis', await this.#synthesizeUncached(job)));
    const { lease } = turn;
    let fill: Fill;
    try {
      fill = await this.#synthesizeAndStore(job, flight, lease);
    } catch (error) {
      await lease?.release();
      throw error;
    }
    // The line's lease is kept until the audio is stored (or found uncacheable).
    void fill.whole.catch(() => {}).finally(() => lease?.release());
    return fill;
  }

  /**
   * Synthesizes and stores. When the engine streams, the caller gets the audio as it comes (from the first chunk on),
   * and its response ends with the last chunk: the audio is then kept in memory at once (the next request here is a
   * hit) and stored in the background (the lock, and identical requests waiting, see it through). A failure before the
   * first chunk is an error answer; a failure after it breaks the stream off (nothing is cached).
   */
  async #synthesizeAndStore(job: AuditionJob, flight: Flight<WholeAudio>, lease?: HeldLease): Promise<Fill> {
    const ssml = buildSsml(job.audition);
    const stream = new AudioStream();
    const synthesis = this.#synthesizeAndKeep(job, ssml, stream, flight);
    // Whichever comes first: the first chunk (stream it), or the whole audio (engines that
    // do not stream), or a failure (the caller gets its status).
    const streaming = await Promise.race([stream.started.then(() => true), synthesis.then(() => false)]);
    if (!streaming)
      return wholeFill(
        served(job, 'synthesis', await this.#cache.store(job, job.audition, ssml, await synthesis, lease)),
      );
    const whole = synthesis.then(
      (audio) => {
        stream.end();
        return this.#cache.store(job, job.audition, ssml, audio, lease);
      },
      (error: unknown) => {
        const reason = error instanceof AppError && error.cause !== undefined ? error.cause : error;
        this.#outages.speech.failed(
          job.log,
          'audition: synthesis failed after streaming began, response cut off',
          reason,
        );
        stream.fail(error);
        throw error;
      },
    );
    const first = {
      status: 'MISS' as const,
      audio: stream.readable,
      cacheKey: job.cacheKey,
      durationSeconds: undefined,
    };
    return { first: served(job, 'synthesis', first), whole };
  }

  /** The synthesis of a miss, its audio kept in memory and published to the flight at once. */
  async #synthesizeAndKeep(
    job: AuditionJob,
    ssml: string,
    stream: AudioStream,
    flight: Flight<WholeAudio>,
  ): Promise<SynthesizedAudition> {
    const audio = await this.#synthesize(job, ssml, (chunk) => stream.push(chunk));
    this.#outages.speech.succeeded(job.log);
    this.#cache.remember(job, audio);
    flight.publish({ status: 'MISS', ...audio, cacheKey: job.cacheKey });
    return audio;
  }

  async #synthesizeUncached(job: AuditionJob): Promise<WholeAudio> {
    const audio = await this.#synthesize(job, buildSsml(job.audition));
    return { status: 'BYPASS', ...audio, cacheKey: job.cacheKey };
  }

  /** A synthesis paid for: a miss in the tenant's hit ratio. */
  async #synthesize(job: AuditionJob, ssml: string, onAudio?: (chunk: Buffer) => void): Promise<SynthesizedAudition> {
    job.timings.tier = 'synthesis';
    const audio = await this.#synthesis.synthesize(job, ssml, onAudio);
    this.#hits.recordMiss(job.tenantId, this.#now());
    return audio;
  }
}

/** The answer, with the tier that gave it (also for Server-Timing). */
function served<A extends AuditionAudio>(job: AuditionJob, tier: Tier, audio: A): A & { tier: Tier } {
  job.timings.tier = tier;
  return { ...audio, tier };
}

function wholeFill(audio: WholeAudio & { tier: Tier }): Fill {
  return { first: audio, whole: Promise.resolve(audio) };
}

/** A prewarm's result once the audio is stored; `unavailable` when it could not be. */
async function prewarmed(
  cacheKey: string,
  whole: Promise<WholeAudio>,
  status: PrewarmResult['status'],
): Promise<PrewarmResult> {
  if ((await whole).status === 'BYPASS') {
    throw new AppError('unavailable', 'The audio was synthesized but could not be stored; try again shortly', {
      retryAfterSeconds: 5,
    });
  }
  return { cacheKey, status };
}
