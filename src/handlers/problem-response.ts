import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { DependencyStalledError } from '../deadline.ts';
import { describeError, toAppError, type ErrorCode } from '../errors.ts';

/** The one table from error code to HTTP status (RFC 9457 problem details). */
const PROBLEMS: Record<ErrorCode, { status: number; title: string }> = {
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'not-found': { status: 404, title: 'Not Found' },
  'invalid-request': { status: 400, title: 'Invalid request' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'no-tts-credentials': { status: 422, title: 'No Azure TTS credentials' },
  'invalid-project-settings': { status: 422, title: 'Project settings cannot be used' },
  'tts-credentials-rejected': { status: 502, title: 'Azure TTS credentials rejected' },
  'tts-throttled': { status: 503, title: 'Azure TTS is throttling requests' },
  'tts-busy': { status: 503, title: 'Too many syntheses in progress' },
  'tts-budget-exceeded': { status: 429, title: "Today's budget on the service's Azure key is used up" },
  'tts-rejected-request': { status: 400, title: 'Azure TTS rejected the request' },
  'tts-timeout': { status: 504, title: 'Azure TTS did not answer in time' },
  'tts-failed': { status: 502, title: 'Azure TTS failed' },
  unavailable: { status: 503, title: 'Service unavailable' },
  'upstream-unreachable': { status: 502, title: 'Upstream unreachable' },
  'upstream-timeout': { status: 504, title: 'Upstream did not answer in time' },
  internal: { status: 500, title: 'Internal error' },
};

export function statusOf(code: ErrorCode): number {
  return PROBLEMS[code].status;
}

/**
 * Turns anything thrown by a handler into an `application/problem+json` response. Internal
 * errors are logged with their cause and answered without detail.
 */
export function problemResponse(error: unknown, context: InvocationContext, instance?: string): HttpResponseInit {
  const appError = toAppError(error);
  const { status, title } = PROBLEMS[appError.code];
  // A call failed at once because its dependency is known to hang says nothing new: the
  // deadline that started the stall was logged (and each probe that fails is).
  const known = appError.cause instanceof DependencyStalledError;
  if (appError.code === 'internal' || (appError.code === 'unavailable' && appError.cause instanceof Error && !known)) {
    const cause = describeError(appError.cause, { stack: true });
    context.error(`${appError.code === 'internal' ? 'Unhandled error' : appError.message}: ${cause}`);
  }
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    'Cache-Control': 'no-store',
  };
  if (appError.code === 'unauthorized') headers['WWW-Authenticate'] = 'Bearer';
  if (appError.extra.retryAfterSeconds !== undefined) headers['Retry-After'] = String(appError.extra.retryAfterSeconds);
  return {
    status,
    headers,
    body: JSON.stringify({
      type: `https://khipu.studio/problems/${appError.code}`,
      title,
      status,
      detail: appError.code === 'internal' ? 'The service failed unexpectedly.' : appError.message,
      ...(instance ? { instance } : {}),
      ...(appError.extra.errors ? { errors: appError.extra.errors } : {}),
    }),
  };
}
