import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { parseAuditionBody } from '../audition/audition-request.ts';
import { authenticate, authorizeProject } from '../auth/authenticate.ts';
import { problemResponse } from './problem-response.ts';
import { readJsonBody } from './read-json-body.ts';

/** Headers the browser client reads (the old API exposed them through CORS too). */
const EXPOSED_HEADERS = 'X-Cache-Status, X-Audio-Duration, ETag';

/**
 * POST /api/v1/projects/{projectId}/characters/audition → the audition's MP3.
 * Authenticates, validates, authorizes, then asks the audition service for the audio.
 */
export function createAuditionHandler(services: () => Services) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const started = performance.now();
    try {
      const { config, accounts, auditions } = services();
      const caller = await authenticate(request.headers.get('authorization'), config.jwt, accounts);
      const audition = parseAuditionBody(await readJsonBody(request));
      const project = await authorizeProject(caller, request.params.projectId ?? '', accounts);
      const result = await auditions.getAudio(caller, project, audition, context);

      context.info(
        `audition ${result.status} tenant=${caller.tenantId} key=${result.cacheKey.slice(0, 12)} ` +
          `bytes=${result.audio.length} ms=${Math.round(performance.now() - started)}`,
      );
      const headers: Record<string, string> = {
        'Content-Type': 'audio/mpeg',
        'Content-Length': String(result.audio.length),
        'X-Cache-Status': result.status,
        'Cache-Control': 'public, max-age=1800',
        ETag: `"${result.cacheKey}"`,
        'Access-Control-Expose-Headers': EXPOSED_HEADERS,
      };
      if (result.durationSeconds !== undefined) headers['X-Audio-Duration'] = result.durationSeconds.toFixed(3);
      return { status: 200, headers, body: result.audio };
    } catch (error) {
      const response = problemResponse(error, context);
      context.info(`audition failed status=${response.status} ms=${Math.round(performance.now() - started)}`);
      return { ...response, headers: { ...response.headers, 'Access-Control-Expose-Headers': EXPOSED_HEADERS } };
    }
  };
}
