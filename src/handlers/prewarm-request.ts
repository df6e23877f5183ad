import type { PrewarmItem, PrewarmResult } from '../audition/prewarm-auditions.ts';
import { AppError, describeError, toAppError, type FieldError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { parsePrewarmItem } from './audition-request.ts';

export const MAX_PREWARM_ITEMS = 100;
/** 100 auditions of up to 5,000 characters each (UTF-8 may take 3 bytes a character). */
export const MAX_PREWARM_BODY_BYTES = 2 * 1024 * 1024;

export interface PrewarmItemResult {
  /** Position in the request's `auditions`. */
  index: number;
  /** The cache key (also the audition's ETag); null when the item was invalid. */
  key: string | null;
  status: 'cached' | 'created' | 'failed';
  /** For `failed`: the problem's code (`invalid-request`, `tts-throttled`, …) and its detail. */
  reason?: string;
  detail?: string;
  errors?: FieldError[];
}

/** The body's `auditions`, checked to be an array of 1 to 100 (each item is checked by parsePrewarmItems). */
export function prewarmBodyItems(body: unknown): unknown[] {
  const items = (body as { auditions?: unknown } | null)?.auditions;
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_PREWARM_ITEMS) {
    throw new AppError('invalid-request', 'The body must be {"auditions": [...]} with 1 to 100 auditions', {
      errors: [{ field: 'auditions', message: `must be an array of 1 to ${MAX_PREWARM_ITEMS} audition bodies` }],
    });
  }
  return items;
}

/** Each item as an audition, or why it is not one: an invalid item fails alone. */
export function parsePrewarmItems(items: unknown[]): PrewarmItem[] {
  return items.map((item: unknown) => {
    try {
      return { audition: parsePrewarmItem(item) };
    } catch (error) {
      return { invalid: error };
    }
  });
}

/**
 * The answer's items and their counts: a failed item carries its problem's code and detail,
 * from the same error table as a whole request (an internal error logged, and not described).
 */
export function describePrewarm(done: PrewarmResult[], log: Pick<Logger, 'error'>) {
  const items = done.map((result): PrewarmItemResult => {
    if (result.status !== 'failed') return { index: result.index, key: result.key, status: result.status };
    const problem = toAppError(result.error);
    if (problem.code === 'internal')
      log.error(`prewarm: item ${result.index} failed: ${describeError(result.error, { stack: true })}`);
    return {
      index: result.index,
      key: result.key,
      status: 'failed',
      reason: problem.code,
      detail: problem.code === 'internal' ? 'The service failed unexpectedly.' : problem.message,
      ...(problem.extra.errors ? { errors: problem.extra.errors } : {}),
    };
  });
  const counts = { cached: 0, created: 0, failed: 0 };
  for (const item of items) counts[item.status]++;
  return { counts, items };
}
