import type { Services } from '../app/services.ts';
import { authorizeProject, endpoint, jsonResponse, user } from './endpoint.ts';
import { describePrewarm, MAX_PREWARM_BODY_BYTES, parsePrewarmItems, prewarmBodyItems } from './prewarm-request.ts';
import { readJsonBody } from './read-json-body.ts';

/**
 * POST /api/v1/projects/{projectId}/characters/auditions/prewarm with
 * `{"auditions": [<audition>, …]}` (1–100; each the guide's audition body, or the web app's voices
 * route body with its `voice`, text optional): synthesizes and stores the ones not cached
 * yet, PREWARM_CONCURRENCY at a time, and answers each item's key and status, no audio.
 * Idempotent: a second call answers `cached` for everything the first stored. Same
 * authentication and tenant check as the audition function; each item fails on its own.
 * The shape of every handler: endpoint.ts.
 */
export function createPrewarmHandler(services: () => Services) {
  return endpoint(services, {
    name: 'prewarm',
    authenticate: user,
    parse: async (call, caller) => {
      const items = prewarmBodyItems(await readJsonBody(call.request, MAX_PREWARM_BODY_BYTES));
      return { caller, project: await authorizeProject(call, caller), items: parsePrewarmItems(items) };
    },
    run: ({ caller, project, items }, { services, context }) =>
      services.prewarm.run({ caller, project, log: context }, items),
    respond: (done, { project }, { context, log }) => {
      const { counts, items } = describePrewarm(done, context);
      Object.assign(log, counts);
      return jsonResponse(200, { projectId: project.id, ...counts, items });
    },
  });
}
