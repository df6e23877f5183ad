import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import type { Audition } from '../domain/audition.ts';
import { Timings } from '../timing.ts';
import { parseAuditionBody, parseVoiceAudition } from './audition-request.ts';
import { auditionProblem, audioResponse, type AuditionExchange } from './audition-response.ts';
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
 * lookup, blob and synthesis.
 */
export function createAuditionHandler(services: () => Services, route: AuditionRoute = 'characters') {
  const functionName = route === 'characters' ? 'audition' : 'voiceAudition';
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const exchange: AuditionExchange = { functionName, context, timings: new Timings() };
    const { timings } = exchange;
    try {
      const { access, auditions, predictive, metrics } = services();
      exchange.metrics = metrics;
      const caller = await timings.time('auth', () => access.authenticate(request.headers.get('authorization')));
      exchange.tenant = caller.tenantId;
      const audition = await readAudition[route](request);
      const project = await timings.time('auth', () => access.authorizeProject(caller, request.params.projectId ?? ''));
      const answer = await auditions.getAudio({ caller, project, audition, log: context, timings });
      // A casting-page audition may set off the other voices of its language, in the background.
      if (answer.status !== 'BYPASS') predictive.afterAudition({ caller, project, audition });
      return audioResponse(answer, audition, exchange);
    } catch (error) {
      return auditionProblem(error, exchange);
    }
  };
}
