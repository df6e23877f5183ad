import type { HttpResponseInit } from '@azure/functions';
import type { AuditionAnswer } from '../audition/audition-service.ts';
import type { Audition } from '../domain/audition.ts';
import type { Call, Invocation } from './endpoint.ts';
import { problemResponse } from './problem-response.ts';

/** Headers the browser client reads (the old API exposed them through CORS too). */
export const EXPOSED_HEADERS = 'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition';

/** The audio as the caller gets it: MP3, the cache's headers, what its log line and metrics say. */
export function audioResponse(answer: AuditionAnswer, audition: Audition, call: Call): HttpResponseInit {
  const { timings, services } = call;
  const { metrics } = services;
  const whole = Buffer.isBuffer(answer.audio) ? answer.audio : undefined;
  // A stored entry's stream has its length from the blob; a streamed miss learns it at its end.
  const bytes = whole ? whole.length : answer.sizeBytes;
  const labels = { cacheStatus: answer.status, tier: answer.tier, status: 200 };
  Object.assign(call.log, {
    cache: answer.status,
    tier: answer.tier,
    key: answer.cacheKey.slice(0, 12),
    bytes,
    // Its length, never the text: what a hit saved in synthesis (the workbook prices it).
    chars: audition.text.length,
  });
  // A stream's bytes are counted as they go out.
  metrics.audition(labels, whole ? bytes : undefined);
  const headers: Record<string, string> = {
    'Content-Type': 'audio/mpeg',
    'X-Cache-Status': answer.status,
    'Cache-Control': 'public, max-age=1800',
    ETag: `"${answer.cacheKey}"`,
    // As the Khipu Cloud API named it; the voice name is [A-Za-z0-9:-] only (validated).
    'Content-Disposition': `inline; filename="${audition.voice}-audition.mp3"`,
    'Access-Control-Expose-Headers': EXPOSED_HEADERS,
    'Server-Timing': timings.toHeader(),
  };
  // A streamed miss has neither yet: its length and duration are known only at its end.
  // A stored entry streamed from Blob Storage has both (the blob's length, the row's duration).
  if (bytes !== undefined) headers['Content-Length'] = String(bytes);
  if (answer.durationSeconds !== undefined) headers['X-Audio-Duration'] = answer.durationSeconds.toFixed(3);
  const body = whole ?? countBytes(answer.audio as ReadableStream<Uint8Array>, (n) => metrics.bytesServed(labels, n));
  return { status: 200, headers, body };
}

/** The problem+json answer of a failed audition, with the audio's headers, its tier logged and counted. */
export function auditionProblem(error: unknown, invocation: Invocation): HttpResponseInit {
  const { context, timings } = invocation;
  const response = problemResponse(error, context);
  const status = response.status ?? 500;
  invocation.log.tier = timings.tier;
  invocation.services?.metrics.audition({ cacheStatus: 'ERROR', tier: timings.tier, status }, undefined);
  return {
    ...response,
    headers: {
      ...response.headers,
      'Access-Control-Expose-Headers': EXPOSED_HEADERS,
      'Server-Timing': timings.toHeader(),
    },
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
