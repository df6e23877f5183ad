import type { HttpRequest } from '@azure/functions';
import type { Services } from '../app/services.ts';
import type { Audition } from '../domain/audition.ts';
import { parseAuditionBody, parseVoiceAudition } from './audition-request.ts';
import { auditionProblem, audioResponse } from './audition-response.ts';
import { authorizeProject, endpoint, user } from './endpoint.ts';
import { readJsonBody, readOptionalJsonBody } from './read-json-body.ts';

/** How each audition route finds the audition in its request. */
export type AuditionRoute =
  /** The guide's `…/characters/audition`: everything in the JSON body. */
  | 'characters'
  /** The shipped web app's `…/voices/{voiceId}/audition`: the voice in the path, the body optional. */
  | 'voices';

const readAudition: Record<AuditionRoute, (request: HttpRequest) => Promise<Audition>> = {
  characters: async (request) => parseAuditionBody(await readJsonBody(request)),
  voices: async (request) => parseVoiceAudition(request.params.voiceId ?? '', await readOptionalJsonBody(request)),
};

/**
 * Both audition routes → the audition's MP3, through the same cache (the same audition by
 * either route is one entry): authenticate, validate, authorize, then the audition use case.
 * Every answer carries Server-Timing: the tier that served it and the time spent in auth,
 * lookup, blob and synthesis. The shape of every handler: endpoint.ts.
 */
export function createAuditionHandler(services: () => Services, route: AuditionRoute = 'characters') {
  return endpoint(services, {
    name: route === 'characters' ? 'audition' : 'voiceAudition',
    authenticate: user,
    parse: async (call, caller) => {
      const audition = await readAudition[route](call.request);
      return { caller, audition, project: await authorizeProject(call, caller) };
    },
    run: async ({ caller, project, audition }, { services: { auditions, predictive }, context, timings }) => {
      const answer = await auditions.getAudio({ caller, project, audition, log: context, timings });
      // A casting-page audition may set off the other voices of its language, in the background.
      if (answer.status !== 'BYPASS') predictive.afterAudition({ caller, project, audition });
      return answer;
    },
    respond: (answer, { audition }, call) => audioResponse(answer, audition, call),
    fail: auditionProblem,
  });
}
