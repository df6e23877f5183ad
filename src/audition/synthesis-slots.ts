import { AppError } from '../errors.ts';

/**
 * At most `max` syntheses at once in this instance (Azure limits concurrent requests per
 * Speech resource); beyond that a request waits up to `maxWaitMs` for a slot, then gets a 503
 * with Retry-After rather than hanging or piling onto a throttled service.
 */
export class SynthesisSlots {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Resolves with the function that gives the slot back. */
  async acquire(): Promise<() => void> {
    if (this.#active < this.max) {
      this.#active++;
      return this.#releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(grant), 1);
        reject(new AppError('tts-busy', 'Too many auditions are being synthesized right now; try again shortly', { retryAfterSeconds: 2 }));
      }, this.maxWaitMs);
      this.#waiting.push(grant);
    });
    return this.#releaser(); // the slot was handed over by the releaser below: #active unchanged
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    };
  }
}
