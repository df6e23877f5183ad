import { performance } from 'node:perf_hooks';
import { DependencyStalledError } from '../deadline.ts';

/** How often a hanging dependency is asked again (one call through), to notice it is back. */
export const PROBE_INTERVAL_MS = 1_000;

/**
 * What one instance knows of a dependency that hangs. Once a call to it has passed its deadline,
 * the calls after it fail at once (DependencyStalledError) instead of each waiting out a deadline
 * of its own, so a request that needs it several times (a lookup, a budget, a store) pays one
 * deadline, not three, and a burst of requests does not pile up behind it. One call per
 * PROBE_INTERVAL_MS still goes through; the first that gets any answer ends the stall.
 *
 * Only deadlines start a stall: a refused connection or an error answer is fast already, and is
 * left to the caller's handling of it.
 */
export class StallGuard {
  readonly #dependency: string;
  readonly #elapsed: () => number;
  readonly #probeIntervalMs: number;
  /** When the current stall began (its first deadline); undefined while the dependency answers. */
  #since: number | undefined;
  #lastProbe = -Infinity;

  constructor(dependency: string, options: { elapsed?: () => number; probeIntervalMs?: number } = {}) {
    this.#dependency = dependency;
    this.#elapsed = options.elapsed ?? (() => performance.now());
    this.#probeIntervalMs = options.probeIntervalMs ?? PROBE_INTERVAL_MS;
  }

  /** Before a call: throws DependencyStalledError while stalled, unless this call is the next probe. */
  admit(): void {
    if (this.#since === undefined) return;
    const now = this.#elapsed();
    if (now - this.#lastProbe >= this.#probeIntervalMs) {
      this.#lastProbe = now;
      return;
    }
    throw new DependencyStalledError(this.#dependency, now - this.#since);
  }

  /** The dependency answered (any answer: a 404, a constraint violation): it is not hanging. */
  answered(): void {
    this.#since = undefined;
  }

  /** A call passed its deadline. */
  timedOut(): void {
    if (this.#since !== undefined) return;
    this.#since = this.#elapsed();
    this.#lastProbe = this.#since;
  }

  get stalled(): boolean {
    return this.#since !== undefined;
  }
}
