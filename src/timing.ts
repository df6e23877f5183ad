/**
 * Where an audition's audio came from, as Server-Timing names it: `synthesis` for every answer synthesized now (a MISS,
 * or a BYPASS when the cache failed); `none` until a tier answers (an error before any lookup).
 */
export type Tier = 'memory' | 'l2' | 'synthesis' | 'none';

/**
 * The phases a request spends time in; every response names all of them. `blob` is the blob
 * read; for a hit streamed from Blob Storage, until its first chunk (the header goes out
 * before the rest of the body).
 */
export type Phase = 'auth' | 'lookup' | 'blob' | 'synthesis';

const PHASES: readonly Phase[] = ['auth', 'lookup', 'blob', 'synthesis'];

/**
 * Time spent per phase of one request, for the `Server-Timing` header (browser devtools show
 * it under Timing). Phases that ran more than once (a lookup repeated after a lock) add up.
 */
export class Timings {
  tier: Tier = 'none';
  readonly #spent = new Map<Phase, number>();
  readonly #started = performance.now();

  add(phase: Phase, ms: number): void {
    this.#spent.set(phase, (this.#spent.get(phase) ?? 0) + ms);
  }

  /** Runs `work`, adding its duration (also when it throws) to `phase`. */
  async time<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.add(phase, performance.now() - started);
    }
  }

  elapsedMs(): number {
    return performance.now() - this.#started;
  }

  /** `tier;desc=memory, auth;dur=0.21, lookup;dur=0.01, blob;dur=0, synthesis;dur=0, total;dur=0.4` */
  toHeader(): string {
    const metric = (name: string, ms: number) => `${name};dur=${+ms.toFixed(2)}`;
    return [
      `tier;desc=${this.tier}`,
      ...PHASES.map((phase) => metric(phase, this.#spent.get(phase) ?? 0)),
      metric('total', this.elapsedMs()),
    ].join(', ');
  }
}
