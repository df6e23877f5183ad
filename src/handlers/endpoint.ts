import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { toAppError } from '../errors.ts';
import { Timings } from '../timing.ts';
import { problemResponse } from './problem-response.ts';
import { logRequest, type RequestLogFields } from './request-log.ts';

// THE HANDLER SHAPE. Every HTTP function is one `endpoint`, in four steps:
//
//   1. authenticate: who is calling (`user`, `freshUser`, or `anyone` for the health check);
//   2. parse: the request's inputs (read-json-body.ts, *-request.ts), the project authorized;
//   3. run: ONE use case (src/<use case>/), which holds the rules and throws an AppError
//      (src/errors.ts) for anything the caller can see;
//   4. respond: its result as an answer (JSON, or the audio: audition-response.ts).
//
// Anything thrown is answered through the one error table (problem-response.ts), unless the
// endpoint answers it in its own body (`fail`). The request's log line (request-log.ts) is
// written here, once, either way; a step adds to it through `log` (counts, the cache status).

/** One invocation of an HTTP function (one request), as every step sees it. */
export interface Invocation {
  request: HttpRequest;
  context: InvocationContext;
  /** Server-Timing's phases (`auth` is the authenticate step's); the log line's `ms`. */
  timings: Timings;
  /** Added to the request's log line (the tenant, from step 1). */
  log: Partial<RequestLogFields>;
  /** Absent only when they could not be built (settings missing), which only `fail` sees. */
  services?: Services;
}

export type Call = Invocation & { services: Services };

/** Who is calling, as AccessControl found them. */
export type Caller = Awaited<ReturnType<Services['access']['authenticate']>>;

export interface Endpoint<Who extends Caller | undefined, Input, Result> {
  /** The function's name on its log line. */
  name: string;
  authenticate(services: Services, request: HttpRequest): Promise<Who>;
  parse(call: Call, who: Who): Promise<Input>;
  run(input: Input, call: Call): Promise<Result>;
  respond(result: Result, input: Input, call: Call): HttpResponseInit;
  /** Anything thrown, as an answer: a problem+json from the one table unless given. */
  fail?(error: unknown, invocation: Invocation): HttpResponseInit;
  /** Without a request log line (the health check: probes come every few seconds). */
  unlogged?: true;
}

/** An HTTP function's handler: the four steps, the problem answer, the one log line. */
export function endpoint<Who extends Caller | undefined, Input, Result>(
  services: () => Services,
  spec: Endpoint<Who, Input, Result>,
) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const invocation: Invocation = { request, context, timings: new Timings(), log: {} };
    let response: HttpResponseInit;
    try {
      const call: Call = Object.assign(invocation, { services: services() });
      const who = await call.timings.time('auth', () => spec.authenticate(call.services, request));
      if (who) call.log.tenant = who.tenantId;
      const input = await spec.parse(call, who);
      response = spec.respond(await spec.run(input, call), input, call);
    } catch (error) {
      invocation.log.error = toAppError(error).code;
      response = spec.fail ? spec.fail(error, invocation) : problemResponse(error, context);
    }
    if (!spec.unlogged) {
      const fields = { function: spec.name, status: response.status ?? 200, ms: invocation.timings.elapsedMs() };
      logRequest(context, { ...fields, ...invocation.log });
    }
    return response;
  };
}

/** Any active user of a tenant (their check remembered for AUTH_CACHE_SECONDS). */
export const user = (services: Services, request: HttpRequest) =>
  services.access.authenticate(request.headers.get('authorization'));

/** The same, read from the database now (a destructive operation: a revoked admin cannot purge a moment later). */
export const freshUser = (services: Services, request: HttpRequest) =>
  services.access.authenticate(request.headers.get('authorization'), { fresh: true });

/** The project in the route, if the caller's tenant owns it (404 if not; timed as `auth`). */
export function authorizeProject({ services, timings, request }: Call, caller: Caller) {
  return timings.time('auth', () => services.access.authorizeProject(caller, request.params.projectId ?? ''));
}

/** Anyone (the health check). */
export const anyone = (): Promise<undefined> => Promise.resolve(undefined);

/** A JSON answer no cache may keep (every answer here is about one caller, or about now). */
export function jsonResponse(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store' } };
}
