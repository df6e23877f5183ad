import { readMp3Duration } from '../audio/mp3-duration.ts';
import type { SynthesizedAudition } from '../domain/audition-audio.ts';
import type { Config } from '../config.ts';
import type { Audition } from '../domain/audition.ts';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { OutageLog } from '../outage-log.ts';
import type { ProjectAccess } from '../ports/account-directory.ts';
import { budgetDay, type SpeechBudget } from '../ports/speech-budget.ts';
import { systemClock, type Clock } from '../clock.ts';
import { SynthesisError, type SpeechCredentials, type Synthesis, type Synthesizer } from '../ports/synthesizer.ts';
import type { CacheMetrics } from '../telemetry.ts';
import type { Timings } from '../timing.ts';
import { billableCharacters } from './ssml.ts';
import { SynthesisSlots } from './synthesis-slots.ts';

/** Retry-After when the budget cannot be read: as when a caller cannot be checked (the database is down). */
const BUDGET_UNREADABLE_RETRY_SECONDS = 5;

export interface SpeechSynthesisDeps {
  synthesizer: Synthesizer;
  /** App-wide fallback credentials, for projects without their own; synthesis limits. */
  speech: Pick<
    Config['speech'],
    'defaultKey' | 'defaultRegion' | 'host' | 'maxConcurrency' | 'queueWaitMs' | 'defaultKeyCharsPerTenantPerDay'
  >;
  /** Billable characters per tenant and day on the default key; without it the default key has no limit. */
  budget?: SpeechBudget;
  now?: Clock;
  /** Synthesis latency and failures by reason (no-ops unless telemetry is on). */
  metrics?: Pick<CacheMetrics, 'synthesis' | 'synthesisFailed'>;
  /** Where a budget that cannot be read is logged, once per database outage. */
  databaseOutage: OutageLog;
}

/** A synthesis paid for, under way: as the Synthesizer gives it back, its failures the caller's errors. */
export interface StartedSynthesis {
  readonly started: Synthesis['started'];
  readonly audio: Synthesis['audio'];
  readonly whole: Promise<SynthesizedAudition>;
}

/** One synthesis to run for a tenant's project. */
export interface SynthesisJob {
  tenantId: string;
  audition: Audition;
  /** Its TTS credentials are looked at only when something must be synthesized. */
  project: ProjectAccess;
  timings: Timings;
  log: Logger;
  /** Background work (predictive prewarm): a slot only when no interactive synthesis waits for one. */
  predictive?: boolean;
}

/**
 * The synthesis step of a miss: whose key pays (the project's, else the service's default),
 * a slot among this instance's syntheses, the speech service's failures as the caller's
 * errors, the audio's duration, and the figures (metrics, Server-Timing, usage).
 */
export class SpeechSynthesis {
  readonly #deps: SpeechSynthesisDeps;
  readonly #slots: SynthesisSlots;
  readonly #now: Clock;
  readonly #databaseOutage: OutageLog;

  constructor(deps: SpeechSynthesisDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#databaseOutage = deps.databaseOutage;
    this.#slots = new SynthesisSlots(deps.speech.maxConcurrency, deps.speech.queueWaitMs);
  }

  /** Lets the engine connect ahead (a synthesis is very likely); never throws. */
  prepare(project: ProjectAccess): void {
    const { synthesizer } = this.#deps;
    if (!synthesizer.prepare || !synthesizer.requiresCredentials) return;
    try {
      synthesizer.prepare(this.#keyFor(project));
    } catch {
      // No credentials: the synthesis itself answers 422.
    }
  }

  /**
   * Starts synthesizing the SSML in a slot of this instance and gives the synthesis back, its failures already the
   * caller's errors (AppError): `started` when there is audio (or rejects with the failure before any), `audio` piece
   * by piece, `whole` with its duration. Throws before any work when there are no credentials (422), the tenant's
   * budget on the default key is used up (429) or cannot be read (503), or no slot frees in time (503). A synthesis
   * that fails gives its characters back to the budget before its error is seen.
   */
  async start(job: SynthesisJob, ssml: string): Promise<StartedSynthesis> {
    const { synthesizer, metrics } = this.#deps;
    const credentials = this.credentialsFor(job.project);
    const refund = credentials && !job.project.ttsKey ? await this.#reserveOnDefaultKey(job, ssml) : undefined;
    let release: () => void;
    try {
      release = await this.#slots.acquire(job.tenantId, job.predictive ? 'background' : 'interactive');
    } catch (error) {
      await refund?.();
      throw error;
    }
    const began = performance.now();
    // Server-Timing's synthesis phase: the wait for the first audio when it streams, else the whole synthesis.
    let timed = false;
    const timeIt = () => {
      if (!timed) job.timings.add('synthesis', performance.now() - began);
      timed = true;
    };
    const run = synthesizer.synthesize({ ssml, audition: job.audition, credentials });
    const ended = run.whole.finally(() => {
      release();
      timeIt();
    });
    const whole = ended.then(
      async (result): Promise<SynthesizedAudition> => {
        metrics?.synthesis(performance.now() - began);
        return {
          audio: result.audio,
          durationSeconds: (await readMp3Duration(result.audio)) ?? result.durationSeconds,
        };
      },
      async (error: unknown) => {
        const appError = toSynthesisAppError(error);
        metrics?.synthesisFailed(appError.code);
        await refund?.();
        throw appError;
      },
    );
    const started = run.started.then(
      (how) => {
        if (how === 'streaming') timeIt();
        return how;
      },
      // A failure before any audio: the caller's error, once its characters are given back.
      () => whole.then(() => 'whole' as const),
    );
    void whole.catch(() => {});
    void started.catch(() => {});
    return { started, audio: run.audio, whole };
  }

  /**
   * Counts what Azure will bill for the SSML (billableCharacters: the markup inside <voice>
   * too) against the tenant's budget on the service's key for today (UTC), before it is
   * synthesized; a 429 when it does not fit. Answers how to give the same count back if the
   * synthesis does not happen. When the count cannot be read (the database is down or does not
   * answer in time) the operator's key is not spent: a 503 with Retry-After. Spending the
   * operator's money unmetered for as long as an outage lasts is what the budget exists to
   * prevent; a project with its own key is never counted, so it still synthesizes.
   */
  async #reserveOnDefaultKey(job: SynthesisJob, ssml: string): Promise<(() => Promise<void>) | undefined> {
    const { budget, speech } = this.#deps;
    const limit = speech.defaultKeyCharsPerTenantPerDay;
    if (!budget || limit <= 0) return undefined;
    const now = this.#now();
    const day = budgetDay(now);
    const characters = billableCharacters(ssml);
    let reserved: boolean;
    try {
      reserved = await budget.reserve(job.tenantId, day, characters, limit);
      this.#databaseOutage.succeeded(job.log);
    } catch (error) {
      this.#databaseOutage.failed(
        job.log,
        `speech budget: could not count ${characters} characters on the default key, refusing (503)`,
        error,
      );
      // The outage log carries the cause (once per outage). Nothing is given back: a reservation whose answer
      // never came may still have been applied, and releasing it could count less than was spent.
      throw new AppError(
        'unavailable',
        "This project has no Azure Speech key of its own, and today's use of the service's key cannot be " +
          'checked right now; try again shortly, or add your own Azure Speech key and region in the project ' +
          'settings. Cached auditions still play.',
        { retryAfterSeconds: BUDGET_UNREADABLE_RETRY_SECONDS },
      );
    }
    if (!reserved) {
      const nextDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
      throw new AppError(
        'tts-budget-exceeded',
        "This project has no Azure Speech key of its own, and its organization has used today's " +
          `${limit.toLocaleString('en-US')} characters on the service's key. ` +
          'Add your own Azure Speech key and region in the project settings to keep auditioning now, ' +
          'or try again after midnight UTC. Cached auditions still play.',
        { retryAfterSeconds: Math.max(1, Math.ceil((nextDay - now.getTime()) / 1000)) },
      );
    }
    return () =>
      budget
        .release(job.tenantId, day, characters)
        .catch((error: unknown) =>
          job.log.warn(`speech budget: could not give back ${characters} characters: ${describeError(error)}`),
        );
  }

  /**
   * The key a synthesis for this project uses (its own, else the service's); undefined for an engine that needs none.
   * Throws the 422 AppError when there is none to use.
   */
  credentialsFor(project: ProjectAccess): SpeechCredentials | undefined {
    return this.#deps.synthesizer.requiresCredentials ? this.#keyFor(project) : undefined;
  }

  /** The project's own key, else the service's default; a 422 when there is none to use, or its region is no region. */
  #keyFor(project: ProjectAccess): SpeechCredentials {
    const { defaultKey, defaultRegion, host } = this.#deps.speech;
    if (project.ttsKey && project.ttsRegionInvalid) {
      throw new AppError(
        'invalid-project-settings',
        "This project's Azure TTS region is not an Azure region name such as eastus " +
          '(settings.creds.tts.azure.region, or settings.azure_tts_region)',
      );
    }
    const credentials = project.ttsKey
      ? { key: project.ttsKey, region: project.ttsRegion ?? defaultRegion }
      : defaultKey
        ? { key: defaultKey, region: defaultRegion }
        : undefined;
    if (!credentials) {
      throw new AppError(
        'no-tts-credentials',
        'This project has no Azure TTS credentials (add the Azure key and region in the project settings: ' +
          'settings.creds.tts.azure, or settings.azure_tts_key), and the service has no default key',
      );
    }
    if (!credentials.region && !host) {
      throw new AppError(
        'no-tts-credentials',
        'This project has an Azure TTS key but no region ' +
          '(settings.creds.tts.azure.region, or settings.azure_tts_region)',
      );
    }
    return credentials;
  }
}

/** The speech service's failure as the error the caller sees (one status per reason). */
export function toSynthesisAppError(error: unknown): AppError {
  if (!(error instanceof SynthesisError)) {
    return new AppError('tts-failed', 'Speech synthesis failed; try again shortly', {
      cause: error,
      retryAfterSeconds: 5,
    });
  }
  // The SDK's own words stay with the error (for the log), never in the caller's answer.
  const cause = error;
  switch (error.failure) {
    case 'credentials-rejected':
      return new AppError('tts-credentials-rejected', 'The Azure TTS credentials were rejected by the speech service', {
        cause,
      });
    case 'throttled':
      return new AppError('tts-throttled', 'The speech service is throttling requests; try again shortly', {
        retryAfterSeconds: 10,
        cause,
      });
    case 'rejected-request':
      return new AppError(
        'tts-rejected-request',
        'The speech service rejected the request (check the voice and style)',
        { cause },
      );
    // Both are worth one more try after a moment (a connection that failed, a service that
    // stalled); a client should not retry in a loop.
    case 'timeout':
      return new AppError('tts-timeout', 'The speech service did not answer in time; try again shortly', {
        retryAfterSeconds: 5,
        cause,
      });
    case 'failed':
      return new AppError('tts-failed', 'The speech service failed to synthesize the audition; try again shortly', {
        retryAfterSeconds: 5,
        cause,
      });
  }
}
