import type { HttpRequest } from '@azure/functions';
import { LRUCache } from 'lru-cache';
import type { Services } from '../app/services.ts';
import type { Audition } from '../domain/audition.ts';
import { parseAuditionBody, parseVoiceAudition } from './audition-request.ts';
import { auditionProblem, audioResponse } from './audition-response.ts';
import { authorizeProject, endpoint, user } from './endpoint.ts';
import { parseJson, readJsonText, readOptionalJsonText } from './read-json-body.ts';

/** How each audition route finds the audition in its request. */
export type AuditionRoute =
  /** The guide's `…/characters/audition`: everything in the JSON body. */
  | 'characters'
  /** The shipped web app's `…/voices/{voiceId}/audition`: the voice in the path, the body optional. */
  | 'voices';

/**
 * Auditions this instance has parsed, by route and body text: a body seen before (the warm hits of a casting session)
 * is not parsed and validated again, since the same text always gives the same audition. Only valid ones are kept,
 * frozen (shared between requests); at most 4 million characters of route and body text in all.
 */
const parsed = new LRUCache<string, Audition>({
  max: 5_000,
  maxSize: 4 * 1024 * 1024,
  sizeCalculation: (_audition, key) => key.length,
});

/** The audition of `key` (route and body) as parsed before, else `parse`d now and kept when valid. */
function auditionOf(key: string, parse: () => Audition): Audition {
  const known = parsed.get(key);
  if (known) return known;
  const audition = Object.freeze(parse());
  parsed.set(key, audition);
  return audition;
}

const readAudition: Record<AuditionRoute, (request: HttpRequest) => Promise<Audition>> = {
  characters: async (request) => {
    const text = await readJsonText(request);
    return auditionOf(`characters\n${text}`, () => parseAuditionBody(parseJson(text)));
  },
  voices: async (request) => {
    const voiceId = request.params.voiceId ?? '';
    const text = await readOptionalJsonText(request);
    const body = () => (text === undefined ? undefined : parseJson(text));
    // The voice id's length first: no voice id and body can spell another pair's key.
    const key = `voices\n${voiceId.length}\n${voiceId}\n${text ?? ''}`;
    return auditionOf(key, () => parseVoiceAudition(voiceId, body()));
  },
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
