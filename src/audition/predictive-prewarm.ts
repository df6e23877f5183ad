import { LRUCache } from 'lru-cache';
import { lruClock, systemClock, type Clock } from '../clock.ts';
import { auditionOf, isDefaultLineAudition, type Audition } from '../domain/audition.ts';
import { defaultLinesVersion } from '../domain/default-audition-line.ts';
import { AppError, describeError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Caller, ProjectAccess } from '../ports/account-directory.ts';
import type { PredictiveRun, PredictiveRuns } from '../ports/predictive-runs.ts';
import type { SpeechCredentials } from '../ports/synthesizer.ts';
import type { PrewarmResult } from './audition-service.ts';

/** A voice the service knows: its name and locale. */
export interface KnownVoice {
  name: string;
  locale: string;
}

/** The voices predictive prewarm may synthesize: the others of a language, the voice's own locale first. */
export interface VoiceCatalog {
  otherVoices(voice: string, locale: string, credentials?: SpeechCredentials): readonly KnownVoice[];
}

export interface PredictivePrewarmDeps {
  /** Stores an audition if it is not cached (predictive ones wait for background slots). */
  auditions: {
    prewarm(request: {
      caller: Caller;
      project: ProjectAccess;
      audition: Audition;
      log: Logger;
      predictive: true;
    }): Promise<PrewarmResult>;
  };
  voices: VoiceCatalog;
  runs: PredictiveRuns;
  /** The key the trigger's synthesis used (the project's, else the service's): the catalog asks the region with it. */
  credentialsFor(project: ProjectAccess): SpeechCredentials | undefined;
  /** Voices per run (0: predictive prewarm is off) and syntheses at once per run. */
  settings: { maxVoices: number; concurrency: number };
  /** The entries' lifetime: a run is not repeated within it. */
  ttlDays: number;
  /**
   * Where runs log: not the trigger's invocation, which has ended by then (in Azure, the worker's console lands in
   * `traces` too).
   */
  log: Logger;
  now?: Clock;
}

/** What one default-line audition tells predictive prewarm. */
export interface PredictiveTrigger {
  caller: Caller;
  project: ProjectAccess;
  audition: Audition;
}

/** How a run ended. */
interface RunOutcome {
  created: number;
  cached: number;
  skipped: number;
  characters: number;
  /** The error code that stopped the run early; null when every voice was tried. */
  stoppedBy: string | null;
}

const DAY_MS = 86_400_000;
/** A run that started this long ago and never finished (its instance went away) may be taken again. */
const STALE_RUN_MS = 10 * 60_000;
/** Runs this instance knows were claimed (here or elsewhere): not asked of the database again for a while. */
const KNOWN_RUNS_MAX = 10_000;
/** A failure that means this voice only (the region does not have it): the run goes on with the next. */
const SKIP_VOICE = new Set(['tts-rejected-request']);

const runId = (run: PredictiveRun) => `${run.tenantId}\u0000${run.language}\u0000${run.lineVersion}`;

/**
 * Predictive prewarm: after a tenant's default-line audition of a voice (the casting page's `{}`), the default lines of
 * the other voices of the same language are synthesized and stored in the background, the voice's own locale first,
 * so the next clicks on the casting page are hits. At most `maxVoices` per run, one run per tenant, language and line
 * version within the entries' lifetime (across instances), paid with the key the trigger used, counted against the
 * default key's daily budget like any synthesis, in background slots only (an interactive synthesis always comes
 * first), stopped by the first throttle, budget or other failure. A project can opt out in its settings.
 */
export class PredictivePrewarm {
  readonly #deps: PredictivePrewarmDeps;
  readonly #now: Clock;
  /** Runs claimed or refused lately (tenant, language, version): not asked of the database again for a while. */
  readonly #known: LRUCache<string, true>;
  readonly #running = new Set<Promise<void>>();
  #stopping = false;

  constructor(deps: PredictivePrewarmDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? systemClock;
    this.#known = new LRUCache({ max: KNOWN_RUNS_MAX, ttl: STALE_RUN_MS, ...lruClock(this.#now) });
  }

  /**
   * Starts a run in the background when this audition calls for one; answers at once and never throws (a failure is
   * a warning: predictive prewarm is an optimisation, never the caller's problem).
   */
  afterAudition(trigger: PredictiveTrigger): void {
    const run = this.#runFor(trigger);
    if (run === undefined || this.#known.has(runId(run))) return; // the cheap path of every other click
    const voices = this.#voicesFor(trigger);
    if (voices.length === 0) return;
    const started = this.#run(trigger, run, voices).catch((error: unknown) =>
      this.#deps.log.warn(`prewarm: predictive run failed: ${describeError(error)}`),
    );
    this.#running.add(started);
    void started.finally(() => this.#running.delete(started));
  }

  /** Resolves when no run is under way (tools and tests). */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Starts no new synthesis and waits for the ones under way (before the app stops). */
  async drain(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled([...this.#running]);
  }

  /** The run this audition would start; none when it is not a trigger (not a default line, off, opted out). */
  #runFor({ caller, project, audition }: PredictiveTrigger): PredictiveRun | undefined {
    if (this.#deps.settings.maxVoices <= 0 || this.#stopping || project.predictivePrewarm === false) return undefined;
    if (!isDefaultLineAudition(audition)) return undefined;
    const language = audition.locale.split('-')[0]!;
    return { tenantId: caller.tenantId, language, lineVersion: defaultLinesVersion(language) };
  }

  /** The voices the run would prewarm, capped; none when there is no key to pay with. */
  #voicesFor({ project, audition }: PredictiveTrigger): readonly KnownVoice[] {
    let credentials: SpeechCredentials | undefined;
    try {
      credentials = this.#deps.credentialsFor(project);
    } catch {
      return []; // no key to pay with: nothing to prewarm
    }
    const voices = this.#deps.voices.otherVoices(audition.voice, audition.locale, credentials);
    return voices.slice(0, this.#deps.settings.maxVoices);
  }

  async #run(trigger: PredictiveTrigger, run: PredictiveRun, voices: readonly KnownVoice[]): Promise<void> {
    if (!(await this.#claim(run))) return;
    const outcome = await this.#prewarmAll(trigger, voices);
    const fields = { tenant: run.tenantId, language: run.language, voices: voices.length, ...outcome };
    this.#deps.log.info(`prewarm: predictive run ${JSON.stringify(fields)}`);
    await this.#deps.runs.finish(run, this.#now());
  }

  /** Whether this instance may run it: not known to be taken, and claimed in the database now. */
  async #claim(run: PredictiveRun): Promise<boolean> {
    const id = runId(run);
    if (this.#known.has(id)) return false;
    const now = this.#now();
    const claimed = await this.#deps.runs.claim(run, now, this.#deps.ttlDays * DAY_MS, STALE_RUN_MS);
    // Claimed or not, a run of it is under way or done: ask again when a stale one could be retaken.
    this.#known.set(id, true);
    return claimed;
  }

  /** The voices' default lines, `concurrency` at a time, until done or the first failure that stops the run. */
  async #prewarmAll(trigger: PredictiveTrigger, voices: readonly KnownVoice[]): Promise<RunOutcome> {
    const outcome: RunOutcome = { created: 0, cached: 0, skipped: 0, characters: 0, stoppedBy: null };
    let next = 0;
    const worker = async () => {
      while (next < voices.length && outcome.stoppedBy === null) {
        if (this.#stopping) {
          outcome.stoppedBy = 'shutdown';
          return;
        }
        const voice = voices[next++]!;
        const audition = auditionOf({ voice: voice.name, locale: voice.locale, text: undefined, style: null });
        await this.#prewarmOne(trigger, audition, outcome);
      }
    };
    const workers = Math.max(1, Math.min(this.#deps.settings.concurrency, voices.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return outcome;
  }

  async #prewarmOne(trigger: PredictiveTrigger, audition: Audition, outcome: RunOutcome): Promise<void> {
    const { caller, project } = trigger;
    const { log } = this.#deps;
    const line = (fields: Record<string, unknown>) =>
      log.info(`prewarm: predictive ${JSON.stringify({ tenant: caller.tenantId, voice: audition.voice, ...fields })}`);
    try {
      const result = await this.#deps.auditions.prewarm({ caller, project, audition, log, predictive: true });
      const characters = result.status === 'created' ? [...audition.text].length : 0;
      outcome[result.status]++;
      outcome.characters += characters;
      line({ status: result.status, chars: characters, key: result.cacheKey.slice(0, 12) });
    } catch (error) {
      const code = error instanceof AppError ? error.code : 'internal';
      line({ status: 'failed', error: code });
      if (SKIP_VOICE.has(code)) outcome.skipped++;
      else outcome.stoppedBy ??= code;
    }
  }
}
