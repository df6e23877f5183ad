import type { Services } from '../app/services.ts';
import { prewarmAuditions } from '../audition/prewarm-auditions.ts';
import { jsonEndpoint } from './json-endpoint.ts';
import { describePrewarm, MAX_PREWARM_BODY_BYTES, parsePrewarmItems, prewarmBodyItems } from './prewarm-request.ts';
import { readJsonBody } from './read-json-body.ts';

/**
 * POST /api/v1/projects/{projectId}/characters/auditions/prewarm with
 * `{"auditions": [<audition>, …]}` (1–100; each the guide's audition body, or the web app's voices
 * route body with its `voice`, text optional): synthesizes and stores the ones not cached
 * yet, PREWARM_CONCURRENCY at a time, and answers each item's key and status, no audio.
 * Idempotent: a second call answers `cached` for everything the first stored. Same
 * authentication and tenant check as the audition function; each item fails on its own.
 * The shape of every handler: json-endpoint.ts.
 */
export function createPrewarmHandler(services: () => Services) {
  return jsonEndpoint(
    'prewarm',
    services,
    async ({ request, context, services: { access, auditions, config }, log }) => {
      const caller = await access.authenticate(request.headers.get('authorization'));
      log.tenant = caller.tenantId;
      const items = prewarmBodyItems(await readJsonBody(request, MAX_PREWARM_BODY_BYTES));
      const project = await access.authorizeProject(caller, request.params.projectId ?? '');
      const done = await prewarmAuditions(
        auditions,
        { caller, project, log: context },
        parsePrewarmItems(items),
        config.prewarmConcurrency,
      );
      const { counts, items: results } = describePrewarm(done, context);
      Object.assign(log, counts);
      return { status: 200, body: { projectId: project.id, ...counts, items: results } };
    },
  );
}
