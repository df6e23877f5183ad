import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { parseAuditionBody } from '../audition/audition-request.ts';
import { Timings } from '../timing.ts';
import { problemResponse } from './problem-response.ts';
import { readJsonBody } from './read-json-body.ts';

/** Headers the browser client reads (the old API exposed them through CORS too). */
const EXPOSED_HEADERS = 'X-Cache-Status, X-Audio-Duration, ETag';

/**
 * POST /api/v1/projects/{projectId}/characters/audition → the audition's MP3.
 * Authenticates, validates, authorizes, then asks the audition service for the audio.
 * Every answer carries Server-Timing: the tier that served it and the time spent in auth,
 * lookup, blob and synthesis.
 */
export function createAuditionHandler(services: () => Services) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const timings = new Timings();
    try {
      const { access, auditions } = services();
      const caller = await timings.time('auth', () => access.authenticate(request.headers.get('authorization')));
      const audition = parseAuditionBody(await readJsonBody(request));
      const project = await timings.time('auth', () => access.authorizeProject(caller, request.params.projectId ?? ''));
      const result = await auditions.getAudio({ caller, project, audition, log: context, timings });

      const bytes = Buffer.isBuffer(result.audio) ? result.audio.length : undefined;
      context.info(
        `audition ${result.status} tier=${timings.tier} tenant=${caller.tenantId} key=${result.cacheKey.slice(0, 12)} ` +
          `${bytes === undefined ? 'streamed' : `bytes=${bytes}`} ms=${Math.round(timings.elapsedMs())}`,
      );
      const headers: Record<string, string> = {
        'Content-Type': 'audio/mpeg',
        'X-Cache-Status': result.status,
        'Cache-Control': 'public, max-age=1800',
        ETag: `"${result.cacheKey}"`,
        'Access-Control-Expose-Headers': EXPOSED_HEADERS,
        'Server-Timing': timings.toHeader(),
      };
      // A streamed miss has neither yet: its length and duration are known only at its end.
      if (bytes !== undefined) headers['Content-Length'] = String(bytes);
      if (result.durationSeconds !== undefined) headers['X-Audio-Duration'] = result.durationSeconds.toFixed(3);
      return { status: 200, headers, body: result.audio };
    } catch (error) {
      const response = problemResponse(error, context);
      context.info(`audition failed status=${response.status} ms=${Math.round(timings.elapsedMs())}`);
      return {
        ...response,
        headers: { ...response.headers, 'Access-Control-Expose-Headers': EXPOSED_HEADERS, 'Server-Timing': timings.toHeader() },
      };
    }
  };
}
