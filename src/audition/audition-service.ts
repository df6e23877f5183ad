import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AudioCache } from '../cache/audio-cache.ts';
import { HeldLease, lineLeaseName } from '../cache/held-lease.ts';
import type { HitRecorder } from '../cache/hit-recorder.ts';
import type { ProjectStoreStatus } from '../cache/project-stores.ts';
import { SingleFlight, type Flight } from '../cache/single-flight.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Audition } from '../domain/audition.ts';
import type { AuditionAudio, SynthesizedAudition, WholeAudio } from '../domain/audition-audio.ts';
import { AppError } from '../errors.ts';
import type { Outages } from '../outage-log.ts';
import type { ProjectAccess } from '../ports/account-directory.ts';
import type { ProjectBlobStores } from '../ports/blob-store.ts';
import type { Leases } from '../ports/leases.ts';
import type { SpeechCredentials } from '../ports/synthesizer.ts';
import type { Tier } from '../timing.ts';
import {
  auditionJob,
  cacheKeyOf,
  type AuditionJob,
  type AuditionJobDeps,
  type AuditionRequest,
} from './audition-job.ts';
import { TenantLimiter } from './tenant-limiter.ts';
import type { SpeechSynthesis, StartedSynthesis } from './speech-synthesis.ts';
import { buildSsml } from './ssml.ts';

export type { AuditionAudio, CacheStatus, WholeAudio } from '../domain/audition-audio.ts';
export type { AuditionRequest } from './audition-job.ts';

/** An audition's audio and the tier that answered it (Server-Timing's `tier`). */
export type AuditionAnswer = AuditionAudio & { tier: Tier };

export interface AuditionServiceDeps {
  /** The cache's tiers: memory, then the index and Blob Storage (failing open). */
  cache: AudioCache;
  /** The synthesis step: whose key pays, the default key's budget, this instance's slots, failures as errors. */
  synthesis: SpeechSynthesis;
  /** The engine: its name and output format are part of every cache key. */
  engine: { provider: string; outputFormat: string };
  /**
   * Projects' own storage accounts (settings.creds.storage.azure). Without them a project's own account is not used:
   * its auditions go to the operator's (tests only).
   */
  projectStores?: ProjectBlobStores;
  /** What this instance knows of project accounts' failures: the app's one, which health and stats read too. */
  projectStoreStatus: ProjectStoreStatus;
  /** Plays and syntheses are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** Cross-instance coordination of misses (a lease per line); without it, each instance synthesizes alone. */
  leases?: Leases;
  /** A line's lease outlives a holder that stopped renewing it (froze, vanished) by at most this long. */
  lineLeaseMs: number;
  /** A miss waits for another instance's synthesis at most as long as a synthesis can take here (and a grace). */
  speech: Pick<Config['speech'], 'queueWaitMs' | 'timeoutMs'>;
  /** A tenant's prewarm items at once in this instance, across all its prewarm requests (PREWARM_CONCURRENCY). */
  prewarmConcurrency: number;
  now: Clock;
  /** Where failures of the database and the speech service are logged, once per outage. */
  outages: Outages;
}

export interface PrewarmResult {
  cacheKey: string;
  status: 'cached' | 'created';
}

/** A miss being filled: the answer of the request that started it (streaming from the first audio on, or whole), and
 * its audio once stored. */
interface Miss {
  answer: AuditionAnswer;
  stored: Promise<WholeAudio>;
}

/**
 * Whose turn it is to fill a miss, across instances: `synthesize` here (under the line's lease, or alone when there is
 * none to take); `stored`, found stored by another instance meanwhile; `uncached`, the index failed while waiting.
 */
type Turn =
  { kind: 'synthesize'; lease: HeldLease | undefined } | { kind: 'stored'; audio: WholeAudio } | { kind: 'uncached' };

const alone: Turn = { kind: 'synthesize', lease: undefined };

/**
 * Past the slot wait and the synthesis's own timeout, the wait for a holder elsewhere ends
 * (its lease is still renewed).
 */
const HOLDER_GRACE_MS = 5_000;
/** A request waiting for another instance's synthesis looks again after this long, then twice as long each time. */
const FIRST_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1_000;

/**
 * The audition use case: the audio for one audition of one tenant, from the cache when it holds it (memory, then the
 * index and Blob Storage), else synthesized once (however many ask for it, here or on other instances) and stored. The
 * cache fails open: an index or blob fault gives an uncached answer (BYPASS) and a warning, never an error.
 */
export class AuditionService {
  readonly #cache: AudioCache;
  readonly #synthesis: SpeechSynthesis;
  /** Misses being filled in this instance: identical requests join them. */
  readonly #flights = new SingleFlight<WholeAudio>();
  readonly #leases: Leases | undefined;
  readonly #lineLeaseMs: number;
  /** The longest a miss waits for another instance's synthesis before doing its own. */
  readonly #maxWaitMs: number;
  readonly #hits: HitRecorder;
  /** Bounds a tenant's prewarm (several tabs, a script) so it cannot take every synthesis slot. */
  readonly #prewarms: TenantLimiter;
  readonly #outages: Outages;
  readonly #now: Clock;
  readonly #jobDeps: AuditionJobDeps;
  readonly #projectStoreStatus: ProjectStoreStatus;

  constructor(deps: AuditionServiceDeps) {
    this.#cache = deps.cache;
    this.#synthesis = deps.synthesis;
    this.#leases = deps.leases;
    this.#lineLeaseMs = deps.lineLeaseMs;
    this.#maxWaitMs = deps.speech.queueWaitMs + deps.speech.timeoutMs + HOLDER_GRACE_MS;
    this.#hits = deps.hits;
    this.#prewarms = new TenantLimiter(deps.prewarmConcurrency);
    this.#outages = deps.outages;
    this.#now = deps.now;
    this.#jobDeps = { engine: deps.engine, projectStores: deps.projectStores };
    this.#projectStoreStatus = deps.projectStoreStatus;
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
      return answered(job, 'synthesis', await this.#synthesizeUncached(job));
    }
    const hot = this.#cache.fromMemory(job);
    if (hot) return answered(job, 'memory', hot);

    const inFlight = this.#flights.find(job.cacheKey);
    if (inFlight) return this.#join(job, inFlight);

    // A stored entry streams to this caller from its first chunk on.
    const found = await this.#cache.lookUpStreaming(job);
    if (found.kind === 'hit') return answered(job, 'l2', found.audio);
    if (found.kind === 'bypass') return answered(job, 'synthesis', await this.#synthesizeUncached(job));

    // Another identical request may have started filling it during our lookup.
    const startedMeanwhile = this.#flights.find(job.cacheKey);
    if (startedMeanwhile) return this.#join(job, startedMeanwhile);
    const miss = await this.#fillMiss(job);
    return miss.answer;
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
    return this.#synthesis.credentialsFor(project);
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
    const miss = await this.#fillMiss(job);
    // Nobody listens to a prewarm's audio as it streams: let it go, keep the stored result.
    if (!Buffer.isBuffer(miss.answer.audio)) void miss.answer.audio.cancel().catch(() => {});
    return prewarmed(cacheKey, miss.stored, miss.answer.status === 'HIT-L2' ? 'cached' : 'created');
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
      return answered(job, 'memory', { ...flight.published, status: 'HIT-L2' });
    }
    job.timings.tier = 'synthesis';
    return answered(job, 'synthesis', await flight.landed);
  }

  /** Fills a miss as a flight identical requests here join; it lands once the audio is stored. */
  #fillMiss(job: AuditionJob): Promise<Miss> {
    const flight = this.#flights.begin(job.cacheKey);
    const miss = this.#miss(job, flight);
    flight.land(miss.then((m) => m.stored));
    return miss;
  }

  /**
   * A miss, top to bottom: this line's turn across instances (another may store it meanwhile), then the synthesis under
   * the line's lease. The caller gets the audio from its first piece on (or whole, from an engine that cannot stream);
   * a failure before any audio is its error answer, one after it cuts the answer off (nothing is cached). Once all of
   * it has come, the audio is kept here (the next request here is a hit, identical ones waiting get it) before the
   * caller's answer ends, then stored; the lease is kept until then.
   */
  async #miss(job: AuditionJob, flight: Flight<WholeAudio>): Promise<Miss> {
    // Very likely a synthesis: let the engine connect while the lease and the second lookup run.
    this.#synthesis.prepare(job.project);
    const turn = await this.#awaitTurn(job);
    if (turn.kind === 'stored') return settled(answered(job, 'l2', turn.audio));
    if (turn.kind === 'uncached') return settled(answered(job, 'synthesis', await this.#synthesizeUncached(job)));
    const { lease } = turn;
    const ssml = buildSsml(job.audition);
    let synthesis: StartedSynthesis;
    let streaming: boolean;
    try {
      synthesis = await this.#startSynthesis(job, ssml);
      streaming = (await synthesis.started) === 'streaming';
    } catch (error) {
      await lease?.release();
      throw error;
    }
    const kept = synthesis.whole.then((audio) => this.#keep(job, flight, audio));
    const stored = kept.then(
      // Stored once the caller's answer has gone out: its end waits on `kept` too, and the upload's first steps would
      // otherwise run ahead of it.
      async (audio) => {
        await answerGoneOut();
        return this.#cache.store(job, job.audition, ssml, audio, lease);
      },
      (error: unknown) => {
        const reason = error instanceof AppError && error.cause !== undefined ? error.cause : error;
        this.#outages.speech.failed(
          job.log,
          'audition: synthesis failed after streaming began, response cut off',
          reason,
        );
        throw error;
      },
    );
    const released = () => lease?.release();
    void stored.then(released, released);
    if (!streaming) return settled(answered(job, 'synthesis', await stored));
    const audio = answerOf(synthesis.audio, kept);
    return {
      answer: answered(job, 'synthesis', { status: 'MISS', audio, cacheKey: job.cacheKey, durationSeconds: undefined }),
      stored,
    };
  }

  /**
   * This line's turn across instances: this instance's when it takes the line's lease (kept alive until the audio is
   * stored). While another instance holds it, look again for its entry, pausing longer each time (50 ms doubling to
   * 1 s, give or take a quarter), and take the lease over if its holder stops renewing it. Without leases, when they
   * cannot be reached, or after waiting longer than a synthesis can take: synthesize here (the cache fails open, and a
   * caller is never left hanging).
   */
  async #awaitTurn(job: AuditionJob): Promise<Turn> {
    const leases = this.#leases;
    if (!leases) return alone;
    const waitUntil = this.#now().getTime() + this.#maxWaitMs;
    for (let pauseMs = FIRST_PAUSE_MS; ; pauseMs = Math.min(pauseMs * 2, MAX_PAUSE_MS)) {
      let lease: HeldLease | undefined;
      try {
        lease = await HeldLease.take(leases, lineLeaseName(job.cacheKey), this.#lineLeaseMs, this.#now);
      } catch (error) {
        this.#outages.database.failed(
          job.log,
          'audition cache: could not coordinate the miss with other instances',
          error,
        );
        return alone;
      }
      if (lease) return this.#turnUnder(job, lease);
      await pause(pauseMs);
      const stored = await this.#cache.lookUp(job);
      if (stored.kind === 'hit') return { kind: 'stored', audio: stored.audio };
      if (stored.kind === 'bypass') return { kind: 'uncached' };
      if (this.#now().getTime() > waitUntil) {
        job.log.warn(
          `audition cache: gave up waiting for another instance's synthesis of ${job.cacheKey.slice(0, 12)}…`,
        );
        return alone;
      }
    }
  }

  /**
   * The line's lease is ours: the turn to synthesize, unless a previous holder stored the line just before. With none
   * (nobody held the line's lease within LEASE_ROW_KEPT_MS, an hour), nothing was stored since this request looked: no
   * second lookup.
   */
  async #turnUnder(job: AuditionJob, lease: HeldLease): Promise<Turn> {
    if (!lease.grant.heldBefore) return { kind: 'synthesize', lease };
    if (lease.grant.generation > 1) {
      job.log.warn(
        `audition cache: took over the lease of ${job.cacheKey.slice(0, 12)}… ` +
          `(generation ${lease.grant.generation}): its holder stopped renewing it`,
      );
    }
    const stored = await this.#cache.lookUp(job);
    if (stored.kind !== 'hit') return { kind: 'synthesize', lease };
    await lease.release();
    return { kind: 'stored', audio: stored.audio };
  }

  /** A miss's synthesized audio: counted as a miss, kept in memory and shared with identical requests here at once. */
  #keep(job: AuditionJob, flight: Flight<WholeAudio>, audio: SynthesizedAudition): SynthesizedAudition {
    this.#outages.speech.succeeded(job.log);
    this.#hits.recordMiss(job.tenantId, this.#now());
    this.#cache.remember(job, audio);
    flight.publish({ status: 'MISS', ...audio, cacheKey: job.cacheKey });
    return audio;
  }

  /** Synthesized and answered whole, not stored (the cache cannot be used): still a miss in the tenant's hit ratio. */
  async #synthesizeUncached(job: AuditionJob): Promise<WholeAudio> {
    const synthesis = await this.#startSynthesis(job, buildSsml(job.audition));
    // Nobody streams it: the whole is the answer.
    void synthesis.audio.cancel().catch(() => {});
    const audio = await synthesis.whole;
    this.#hits.recordMiss(job.tenantId, this.#now());
    return { status: 'BYPASS', ...audio, cacheKey: job.cacheKey };
  }

  /** A synthesis paid for; throws the caller's error when it cannot start (no key, no budget, no free slot). */
  #startSynthesis(job: AuditionJob, ssml: string): Promise<StartedSynthesis> {
    job.timings.tier = 'synthesis';
    return this.#synthesis.start(job, ssml);
  }
}

/** The answer, with the tier that gave it (also for Server-Timing). */
function answered<A extends AuditionAudio>(job: AuditionJob, tier: Tier, audio: A): A & { tier: Tier } {
  job.timings.tier = tier;
  return { ...audio, tier };
}

/** A miss answered whole: its answer is what was stored (or not). */
function settled(answer: WholeAudio & { tier: Tier }): Miss {
  return { answer, stored: Promise.resolve(answer) };
}

/**
 * A miss's answer: its audio as it comes, ending once the audio is `kept` here (so that the caller's next request is a
 * hit), or breaking off with the caller's error (`kept`'s) when the synthesis fails midway. A caller that goes away
 * stops only its own reading; the synthesis goes on.
 */
function answerOf(audio: ReadableStream<Uint8Array>, kept: Promise<unknown>): ReadableStream<Uint8Array> {
  const pieces = audio.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(answer) {
      const next = await pieces.read().catch(async (error: unknown) => {
        await kept;
        throw error;
      });
      if (!next.done) return answer.enqueue(next.value);
      await kept;
      answer.close();
    },
    cancel: (reason) => pieces.cancel(reason),
  });
}

/** Resolves after the work already queued (an answer's end and its writes) has run: one turn of the event loop. */
const answerGoneOut = (): Promise<void> => nextTurn();

/** `ms`, give or take a quarter, so that instances waiting together do not ask together. */
function pause(ms: number): Promise<void> {
  const jittered = ms * (0.75 + Math.random() * 0.5);
  return new Promise((resolve) => setTimeout(resolve, jittered));
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
