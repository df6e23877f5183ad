import type { Services } from '../app/services.ts';
import { parsePrewarmItem } from './audition-request.ts';
import { prewarmAuditions, type PrewarmItem } from '../audition/prewarm-auditions.ts';
import { AppError, describeError, toAppError, type FieldError } from '../errors.ts';
import { jsonEndpoint } from './json-endpoint.ts';
import { readJsonBody } from './read-json-body.ts';

export const MAX_PREWARM_ITEMS = 100;
/** 100 auditions of up to 5,000 characters each (UTF-8 may take 3 bytes a character). */
const MAX_PREWARM_BODY_BYTES = 2 * 1024 * 1024;

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

/**
 * POST /api/v1/projects/{projectId}/characters/auditions/prewarm with
 * `{"auditions": [<audition>, …]}` (1–100; each the guide's audition body, or the web app's voices
 * route body with its `voice`, text optional): synthesizes and stores the ones not cached
 * yet, PREWARM_CONCURRENCY at a time, and answers each item's key and status, no audio.
 * Idempotent: a second call answers `cached` for everything the first stored. Same
 * authentication and tenant check as the audition function; each item fails on its own.
 */
export function createPrewarmHandler(services: () => Services) {
  return jsonEndpoint('prewarm', services, async ({ request, context, services: { access, auditions, config }, log }) => {
    const caller = await access.authenticate(request.headers.get('authorization'));
    log.tenant = caller.tenantId;
    const body = await readJsonBody(request, MAX_PREWARM_BODY_BYTES);
    const items = (body as { auditions?: unknown } | null)?.auditions;
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_PREWARM_ITEMS) {
      throw new AppError('invalid-request', 'The body must be {"auditions": [...]} with 1 to 100 auditions', {
        errors: [{ field: 'auditions', message: `must be an array of 1 to ${MAX_PREWARM_ITEMS} audition bodies` }],
      });
    }
    const project = await access.authorizeProject(caller, request.params.projectId ?? '');

    const parsed: PrewarmItem[] = items.map((item: unknown) => {
      try {
        return { audition: parsePrewarmItem(item) };
      } catch (error) {
        return { invalid: error };
      }
    });
    const done = await prewarmAuditions(auditions, { caller, project, log: context }, parsed, config.prewarmConcurrency);
    const results = done.map((result): PrewarmItemResult => {
      if (result.status !== 'failed') return { index: result.index, key: result.key, status: result.status };
      const problem = toAppError(result.error);
      if (problem.code === 'internal') context.error(`prewarm: item ${result.index} failed: ${describeError(result.error, { stack: true })}`);
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
    for (const item of results) counts[item.status]++;
    Object.assign(log, counts);
    return { status: 200, body: { projectId: project.id, ...counts, items: results } };
  });
}
