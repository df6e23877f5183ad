import type { Audition } from '../domain/audition.ts';
import type { AuditionRequest, AuditionService } from './audition-service.ts';

/** One item of a prewarm: an audition, or why its body was not one. */
export type PrewarmItem = { audition: Audition } | { invalid: unknown };

export type PrewarmResult = {
  /** Position in the request. */
  index: number;
  /** The cache key (also the audition's ETag); null when the item was invalid. */
  key: string | null;
} & ({ status: 'cached' | 'created' } | { status: 'failed'; error: unknown });

/**
 * The prewarm endpoint's use case over the audition use case: caches each of a tenant's auditions that is not cached
 * yet, `concurrency` at a time (PREWARM_CONCURRENCY: a prewarm never takes more of this instance's syntheses than
 * that); each item succeeds or fails on its own, and the results come back in the items' order.
 */
export class Prewarm {
  readonly #auditions: Pick<AuditionService, 'prewarm' | 'cacheKeyOf'>;
  readonly #concurrency: number;

  constructor(auditions: Pick<AuditionService, 'prewarm' | 'cacheKeyOf'>, concurrency: number) {
    this.#auditions = auditions;
    this.#concurrency = concurrency;
  }

  async run(
    request: Omit<AuditionRequest, 'audition' | 'timings'>,
    items: readonly PrewarmItem[],
  ): Promise<PrewarmResult[]> {
    const auditions = this.#auditions;
    const results: PrewarmResult[] = new Array<PrewarmResult>(items.length);
    let next = 0;
    const worker = async () => {
      for (let index = next++; index < items.length; index = next++) {
        const item = items[index]!;
        if ('invalid' in item) {
          results[index] = { index, key: null, status: 'failed', error: item.invalid };
          continue;
        }
        const key = auditions.cacheKeyOf(request.caller.tenantId, item.audition, request.project);
        try {
          const done = await auditions.prewarm({ ...request, audition: item.audition });
          results[index] = { index, key, status: done.status };
        } catch (error) {
          results[index] = { index, key, status: 'failed', error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, items.length) }, worker));
    return results;
  }
}
