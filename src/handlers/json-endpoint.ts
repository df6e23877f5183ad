import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { toAppError } from '../errors.ts';
import { problemResponse } from './problem-response.ts';
import { logRequest, type RequestLogFields } from './request-log.ts';

// THE HANDLER SHAPE. Every HTTP handler is one function of about 30 lines, in three steps:
//
//   1. build the context: who is calling (AccessControl), and the request's inputs, parsed
//      (read-json-body.ts, *-request.ts); nothing else is decided here;
//   2. call ONE use case (src/<use case>/), which holds the rules and throws an AppError
//      (src/errors.ts) for anything the caller can see;
//   3. map its outcome to a status and a body.
//
// Errors are not caught in a handler: jsonEndpoint maps anything thrown through the one table
// (problem-response.ts), and writes the request's log line either way. A handler adds to that
// line through `log` (the tenant once known, counts). The health check, anonymous and answered
// in its own body for load balancers, follows the same steps without the problem table.

export interface JsonEndpointCall {
  request: HttpRequest;
  context: InvocationContext;
  services: Services;
  /** Added to the request's log line (the tenant once known, counts). */
  log: Partial<RequestLogFields>;
}

/** What a handler answers: a status and a JSON body. */
export interface JsonAnswer {
  status: number;
  body: unknown;
}

/**
 * An HTTP function answering JSON: the work's result with `Cache-Control: no-store`, or a
 * problem response for anything thrown (the one error table); one log line either way.
 */
export function jsonEndpoint(
  name: string,
  services: () => Services,
  work: (call: JsonEndpointCall) => Promise<JsonAnswer>,
) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const started = performance.now();
    const log: Partial<RequestLogFields> = {};
    try {
      const { status, body } = await work({ request, context, services: services(), log });
      logRequest(context, { function: name, status, ms: performance.now() - started, ...log });
      return jsonResponse(status, body);
    } catch (error) {
      const response = problemResponse(error, context);
      logRequest(context, {
        function: name,
        status: response.status ?? 500,
        ms: performance.now() - started,
        ...log,
        error: toAppError(error).code,
      });
      return response;
    }
  };
}

/** A JSON answer no cache may keep (every answer here is about one caller, or about now). */
export function jsonResponse(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store' } };
}
