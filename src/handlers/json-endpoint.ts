import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { toAppError } from '../errors.ts';
import { problemResponse } from './problem-response.ts';
import { logRequest, type RequestLogFields } from './request-log.ts';

export interface JsonEndpointCall {
  request: HttpRequest;
  context: InvocationContext;
  services: Services;
  /** Added to the request's log line (the tenant once known, counts). */
  log: Partial<RequestLogFields>;
}

/**
 * An HTTP function answering JSON: the work's result with `Cache-Control: no-store`, or a
 * problem response for anything thrown (the one error table); one log line either way.
 */
export function jsonEndpoint(name: string, services: () => Services, work: (call: JsonEndpointCall) => Promise<{ status: number; body: unknown }>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const started = performance.now();
    const log: Partial<RequestLogFields> = {};
    try {
      const { status, body } = await work({ request, context, services: services(), log });
      logRequest(context, { function: name, status, ms: performance.now() - started, ...log });
      return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store' } };
    } catch (error) {
      const response = problemResponse(error, context);
      logRequest(context, { function: name, status: response.status ?? 500, ms: performance.now() - started, ...log, error: toAppError(error).code });
      return response;
    }
  };
}
