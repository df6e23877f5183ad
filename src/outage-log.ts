import { performance } from 'node:perf_hooks';
import { describeError } from './errors.ts';
import type { Logger } from './logger.ts';

/**
 * The warnings about one dependency that the cache fails open around, once per outage: its
 * first failure is logged with the reason, the failures after it are only counted, and the first
 * success after them logs how long the outage lasted and how many calls it cost. A thousand
 * requests answered uncached during one storage outage are one warning and one recovery line,
 * not a thousand warnings (each request's own log line still says BYPASS).
 */
export class OutageLog {
  readonly #dependency: string;
  readonly #elapsed: () => number;
  /** When the current outage's first failure was seen; undefined while calls succeed. */
  #since: number | undefined;
  #failures = 0;

  constructor(dependency: string, options: { elapsed?: () => number } = {}) {
    this.#dependency = dependency;
    this.#elapsed = options.elapsed ?? (() => performance.now());
  }

  /** A call failed; `message` says which and what the caller does instead. */
  failed(log: Logger, message: string, error: unknown): void {
    this.#failures++;
    if (this.#since !== undefined) return;
    this.#since = this.#elapsed();
    log.warn(
      `${message}: ${describeError(error)} ` +
        `(until ${this.#dependency} answers again, further failures are counted, not logged)`,
    );
  }

  /** A call succeeded: the end of an outage, if there was one. */
  succeeded(log: Logger): void {
    if (this.#since === undefined) return;
    const seconds = (this.#elapsed() - this.#since) / 1000;
    const failures = this.#failures;
    this.#since = undefined;
    this.#failures = 0;
    log.info(
      `${this.#dependency} answers again after ${seconds.toFixed(1)} s of failures (${failures} failed call(s))`,
    );
  }

  /** Whether the last call failed (an outage is going on, as far as this instance knows). */
  get failing(): boolean {
    return this.#since !== undefined;
  }
}

/**
 * The dependencies the audition path fails around, one log each per instance: the database and
 * Blob Storage (the cache fails open), and the speech service (a miss cut off midway; a failure
 * before the first audio is the caller's own answer, in its request line).
 */
export interface Outages {
  database: OutageLog;
  blobStorage: OutageLog;
  speech: OutageLog;
}

export function createOutages(elapsed?: () => number): Outages {
  return {
    database: new OutageLog('the database', { elapsed }),
    blobStorage: new OutageLog('Blob Storage', { elapsed }),
    speech: new OutageLog('the speech service', { elapsed }),
  };
}
