import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import type { Audition } from '../domain/audition.ts';
import { parseAuditionBody, parseVoiceAudition } from './audition-request.ts';
import { toAppError } from '../errors.ts';
import { Timings } from '../timing.ts';
import { problemResponse } from './problem-response.ts';
import { readJsonBody, readOptionalJsonBody } from './read-json-body.ts';
import { logRequest } from './request-log.ts';

/** Headers the browser client reads (the old API exposed them through CORS too). */
const EXPOSED_HEADERS = 'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition';

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
 * either route is one entry). Authenticates, validates, authorizes, then asks the audition
 * service for the audio. Every answer carries Server-Timing: the tier that served it and the
 * time spent in auth, lookup, blob and synthesis.
 */
export function createAuditionHandler(services: () => Services, route: AuditionRoute = 'characters') {
  const functionName = route === 'characters' ? 'audition' : 'voiceAudition';
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const timings = new Timings();
    let tenant: string | undefined;
    let metrics: Services['metrics'] | undefined;
    try {
      const { access, auditions, metrics: m } = services();
      metrics = m;
      const caller = await timings.time('auth', () => access.authenticate(request.headers.get('authorization')));
      tenant = caller.tenantId;
      const audition = await readAudition[route](request);
      const project = await timings.time('auth', () => access.authorizeProject(caller, request.params.projectId ?? ''));
      const result = await auditions.getAudio({ caller, project, audition, log: context, timings });

      // A stored entry's stream has its length from the blob; a streamed miss learns it at its end.
      const bytes = Buffer.isBuffer(result.audio) ? result.audio.length : result.sizeBytes;
      const labels = { cacheStatus: result.status, tier: timings.tier, status: 200 };
      logRequest(context, {
        function: functionName,
        status: 200,
        cache: result.status,
        tier: timings.tier,
        ms: timings.elapsedMs(),
        tenant,
        key: result.cacheKey.slice(0, 12),
        bytes,
        // Its length, never the text: what a hit saved in synthesis (the workbook prices it).
        chars: audition.text.length,
      });
      // A stream's bytes are counted as they go out.
      metrics.audition(labels, Buffer.isBuffer(result.audio) ? bytes : undefined);
      const headers: Record<string, string> = {
        'Content-Type': 'audio/mpeg',
        'X-Cache-Status': result.status,
        'Cache-Control': 'public, max-age=1800',
        ETag: `"${result.cacheKey}"`,
        // As the Khipu Cloud API named it; the voice name is [A-Za-z0-9:-] only (validated).
        'Content-Disposition': `inline; filename="${audition.voice}-audition.mp3"`,
        'Access-Control-Expose-Headers': EXPOSED_HEADERS,
        'Server-Timing': timings.toHeader(),
      };
      // A streamed miss has neither yet: its length and duration are known only at its end.
      // A stored entry streamed from Blob Storage has both (the blob's length, the row's duration).
      if (bytes !== undefined) headers['Content-Length'] = String(bytes);
      if (result.durationSeconds !== undefined) headers['X-Audio-Duration'] = result.durationSeconds.toFixed(3);
      return { status: 200, headers, body: Buffer.isBuffer(result.audio) ? result.audio : countBytes(result.audio, (n) => metrics!.bytesServed(labels, n)) };
    } catch (error) {
      const response = problemResponse(error, context);
      const status = response.status ?? 500;
      logRequest(context, { function: functionName, status, error: toAppError(error).code, tier: timings.tier, ms: timings.elapsedMs(), tenant });
      metrics?.audition({ cacheStatus: 'ERROR', tier: timings.tier, status }, undefined);
      return {
        ...response,
        headers: { ...response.headers, 'Access-Control-Expose-Headers': EXPOSED_HEADERS, 'Server-Timing': timings.toHeader() },
      };
    }
  };
}

/** The stream as it is, telling `done` how many bytes went through once it ends. */
function countBytes(stream: ReadableStream<Uint8Array>, done: (bytes: number) => void): ReadableStream<Uint8Array> {
  let bytes = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.length;
        controller.enqueue(chunk);
      },
      flush: () => done(bytes),
    }),
  );
}
