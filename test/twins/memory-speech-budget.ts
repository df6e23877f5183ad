import type { SpeechBudget } from '../../src/ports/speech-budget.ts';

/** SpeechBudget in memory: one count per tenant and day, as the Postgres table keeps them. */
export class MemorySpeechBudget implements SpeechBudget {
  readonly #counts = new Map<string, number>();
  /** While set, every call throws it (the database is unreachable). */
  failing: Error | undefined;

  reserve(tenantId: string, day: string, characters: number, limit: number): Promise<boolean> {
    if (this.failing) return Promise.reject(this.failing);
    const key = `${tenantId}/${day}`;
    const total = (this.#counts.get(key) ?? 0) + characters;
    if (total > limit) return Promise.resolve(false);
    this.#counts.set(key, total);
    return Promise.resolve(true);
  }

  release(tenantId: string, day: string, characters: number): Promise<void> {
    if (this.failing) return Promise.reject(this.failing);
    const key = `${tenantId}/${day}`;
    if (this.#counts.has(key)) this.#counts.set(key, Math.max(0, this.#counts.get(key)! - characters));
    return Promise.resolve();
  }

  used(tenantId: string, day: string): Promise<number> {
    if (this.failing) return Promise.reject(this.failing);
    return Promise.resolve(this.#counts.get(`${tenantId}/${day}`) ?? 0);
  }
}
