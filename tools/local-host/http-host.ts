import http from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import {
  HttpRequest,
  HttpResponse,
  InvocationContext,
  type HttpRequestInit,
  type HttpResponseInit,
} from '@azure/functions';
import type {
  FunctionDefinition,
  HttpFunctionDefinition,
  TimerFunctionDefinition,
} from '../../src/app/function-definition.ts';
import { AppError, describeError } from '../../src/errors.ts';
import { problemResponse } from '../../src/handlers/problem-response.ts';
import { corsHeadersFor, parseCorsPolicy } from './cors.ts';
import { decodeRouteParam, readRequestTarget } from './request-target.ts';
import { createUpstreamForwarder, type Upstream } from './upstream-proxy.ts';

export interface LocalHostOptions {
  functions: FunctionDefinition[];
  /** `api`, as host.json's extensions.http.routePrefix. */
  routePrefix: string;
  /** Host.CORS, as `parseCorsPolicy` reads it: the origins that get CORS headers (`*` alone: any, never with credentials). */
  corsOrigins: string[];
  /** Host.CORSCredentials. */
  corsCredentials: boolean;
  log: (line: string) => void;
  /** Where a request no function serves goes (KHIPU_CLOUD_API_URL); without one it is a 404. */
  upstream?: Upstream;
}

interface Route {
  definition: HttpFunctionDefinition;
  methods: string[];
  pattern: RegExp;
  params: string[];
}

const MAX_BODY_BYTES = 100 * 1024 * 1024; // the Functions host's own request limit

/**
 * Serves HTTP functions the way the Functions host does (route templates under the route
 * prefix, the library's real HttpRequest/InvocationContext), for machines without Core Tools.
 *
 * Whatever a caller sends, the host itself answers 4xx or lets a function answer: a request
 * it cannot read (bad Host, credentials in the URL, an undecodable path parameter, a request
 * Node's HTTP parser refuses) is a 400 problem+json from the app's own table, and only a bug
 * is a 500 (problem+json too, logged with its stack).
 */
export function createLocalHost(options: LocalHostOptions): http.Server {
  const corsPolicy = parseCorsPolicy(options.corsOrigins, options.corsCredentials, 'corsOrigins');
  const routes = options.functions.filter((f): f is HttpFunctionDefinition => f.trigger === 'http').map(toRoute);
  const timers = new Map(
    options.functions
      .filter((f): f is TimerFunctionDefinition => f.trigger === 'timer')
      .map((f) => [f.name.toLowerCase(), f]),
  );
  const forward = options.upstream && createUpstreamForwarder(options.upstream, options.log);
  const allMethods = [...new Set(['OPTIONS', ...routes.flatMap((route) => route.methods)])].join(', ');
  // The host's own problems go through the same table and logging as a function's.
  const hostContext = new InvocationContext({
    invocationId: 'local-host',
    functionName: 'local-host',
    logHandler: (level, ...args) => options.log(`${level}: [local-host] ${args.map(String).join(' ')}`),
  });
  /** Responses in progress per connection: a parse error must not be written into one already begun. */
  const responding = new WeakMap<Duplex, Set<http.ServerResponse>>();

  // A missing Host is answered by readRequestTarget, as problem+json like every other 400.
  const server = http.createServer({ requireHostHeader: false }, onRequest);
  // Like Kestrel under the Functions host: an expectation other than 100-continue is ignored (Node would answer 417).
  server.on('checkExpectation', onRequest);
  server.on('clientError', onClientError);
  // CONNECT never reaches 'request'; without a listener Node drops the connection unanswered.
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy()); // handed over without Node's own error listener
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nAllow: ${allMethods}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
  });
  return server;

  function onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
    const inProgress = responding.get(req.socket) ?? new Set();
    responding.set(req.socket, inProgress.add(res));
    res.once('close', () => inProgress.delete(res));
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, problemResponse(error, hostContext), corsHeaders(req)).catch(() => res.destroy());
        return;
      }
      // The answer had begun: all that is left is to cut the connection, not to finish a body
      // that is not whole.
      res.destroy();
      options.log(`error: local host: ${describeError(error, { stack: true })}`);
    });
  }

  /**
   * A request Node's HTTP parser refused (bad method or version, malformed or oversized
   * headers, broken chunked body): 400 problem+json, as for any other unreadable request.
   */
  function onClientError(error: Error & { code?: string; reason?: string }, socket: Duplex) {
    const begun = [...(responding.get(socket) ?? [])].some((res) => res.headersSent);
    if (socket.writable && error.code !== 'ECONNRESET' && !begun) {
      // A request that never finished arriving: Node's own answer (nobody reads a body there).
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
        socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
      else socket.write(rawResponse(problemResponse(unreadable(error), hostContext)));
    }
    socket.destroy();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const method = (req.method ?? 'GET').toUpperCase();
    const cors = corsHeaders(req);
    const target = readRequestTarget(req);
    if (target.kind === 'asterisk') {
      // OPTIONS *: what the server as a whole allows.
      res.writeHead(204, { Allow: allMethods });
      res.end();
      return;
    }
    const { url } = target;
    if (method === 'OPTIONS' && req.headers['access-control-request-method'] && req.headers.origin !== undefined) {
      // A preflight, for any path, is the host's to answer (as the Functions host's CORS middleware
      // does): 204, with the Access-Control-Allow-* headers for an allowed origin only. No function
      // and no upstream sees it.
      res.writeHead(
        204,
        cors && {
          ...cors,
          'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
          'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? '*',
          'Access-Control-Max-Age': '600',
        },
      );
      res.end();
      return;
    }

    // Like Core Tools: POST /admin/functions/{name} runs a non-HTTP function now (202).
    const admin = /^\/admin\/functions\/([^/]+)\/?$/.exec(url.pathname);
    if (admin) {
      const timer = timers.get(decodeRouteParam('name', admin[1]!).toLowerCase());
      if (!timer) throw new AppError('not-found', 'No timer function by that name');
      if (method !== 'POST') {
        res.writeHead(405, { Allow: 'POST' });
        res.end();
        return;
      }
      if (!(await drainBody(req))) return;
      res.writeHead(202);
      res.end();
      void runTimer(timer, options.log); // it logs its own failure; the caller got its 202
      return;
    }

    const prefix = options.routePrefix ? `/${options.routePrefix}/` : '/';
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : undefined;
    const matches =
      path === undefined
        ? []
        : routes.map((route) => ({ route, match: route.pattern.exec(path) })).filter((m) => m.match);
    const found = matches.find(({ route }) => route.methods.includes(method));
    if (!found) {
      if (matches.length === 0) {
        if (!forward) throw new AppError('not-found', 'No function at this path');
        await forward(req, res, url, cors); // the Khipu Cloud API's, locally: one base URL for the web app
        return;
      }
      res.writeHead(405, { ...cors, Allow: [...new Set(matches.flatMap(({ route }) => route.methods))].join(', ') });
      res.end();
      return;
    }

    const params: Record<string, string> = {};
    found.route.params.forEach((name, i) => {
      const value = found.match![i + 1];
      if (value !== undefined) params[name] = decodeRouteParam(name, value);
    });
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw bodyTooLarge();
    const request = streamingRequest(req, method, url, params);
    const { name } = found.route.definition;
    const context = new InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: name,
      logHandler: (level, ...args) => options.log(`${level}: [${name}] ${args.map(String).join(' ')}`),
    });
    await send(res, await found.route.definition.options.handler(request, context), cors);
  }

  /** A function's (or the host's) answer, written out. */
  async function send(res: http.ServerResponse, init: HttpResponseInit, cors: Record<string, string> | undefined) {
    const plain = !(init.headers instanceof Headers) && !Array.isArray(init.headers) && !init.cookies;
    if (plain && (init.body instanceof Uint8Array || init.body instanceof ReadableStream)) {
      // Audio with plain headers (every audio answer): written as it is, without a fetch
      // Response around it. A stream keeps the Content-Length the handler gave (a stored
      // entry's) or goes out chunked (a miss being synthesized).
      const outHeaders: Record<string, string | string[]> = { ...cors };
      for (const [key, value] of Object.entries((init.headers as Record<string, string> | undefined) ?? {}))
        outHeaders[key.toLowerCase()] = value;
      if (init.body instanceof Uint8Array) {
        outHeaders['content-length'] = String(init.body.length);
        res.writeHead(init.status ?? 200, outHeaders);
        res.end(init.body);
        return;
      }
      res.writeHead(init.status ?? 200, outHeaders);
      res.flushHeaders();
      await sendStream(init.body as NodeReadableStream<Uint8Array>, res);
      return;
    }
    const response = new HttpResponse(init);
    const outHeaders: Record<string, string> = { ...cors };
    response.headers.forEach((value, key) => {
      outHeaders[key] = value;
    });
    if (isWhole(init.body) || !response.body) {
      const bytes = Buffer.from(await response.arrayBuffer());
      outHeaders['content-length'] = String(bytes.length);
      res.writeHead(response.status, outHeaders);
      res.end(bytes);
      return;
    }
    // Streamed, as the Functions host does with enableHttpStream: chunks go out as the
    // handler produces them; a body that fails midway cuts the connection (no clean end).
    res.writeHead(response.status, outHeaders);
    res.flushHeaders();
    await sendStream(response.body as NodeReadableStream<Uint8Array>, res);
  }

  function corsHeaders(req: http.IncomingMessage): Record<string, string> | undefined {
    return corsHeadersFor(corsPolicy, req.headers.origin);
  }
}

/** A streamed body's chunks as they come; one that fails midway cuts the connection (no clean end). */
async function sendStream(body: NodeReadableStream<Uint8Array>, res: http.ServerResponse): Promise<void> {
  await pipeline(Readable.fromWeb(body), res).catch((error: unknown) => {
    if (!res.destroyed) res.destroy(error instanceof Error ? error : new Error(String(error)));
  });
}

/** Runs a timer function once, as if its schedule fired now. */
export function runTimer(definition: TimerFunctionDefinition, log: (line: string) => void): Promise<void> {
  const { name } = definition;
  const context = new InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: name,
    logHandler: (level, ...args) => log(`${level}: [${name}] ${args.map(String).join(' ')}`),
  });
  log(`info: Executing '${name}'`);
  const started = performance.now();
  return Promise.resolve(
    definition.options.handler(
      { isPastDue: false, scheduleStatus: undefined, schedule: { adjustForDST: false } } as never,
      context,
    ),
  ).then(
    () => log(`info: Executed '${name}' (Succeeded, ${Math.round(performance.now() - started)} ms)`),
    (error: unknown) => log(`error: Executed '${name}' (Failed): ${describeError(error, { stack: true })}`),
  );
}

/** Route templates as the Functions host reads them: `v1/projects/{projectId}/x`, `{id:guid}`, `{page?}`. */
function toRoute(definition: HttpFunctionDefinition): Route {
  const template = (definition.options.route ?? definition.name).replace(/^\/+|\/+$/g, '');
  const params: string[] = [];
  const source = template
    .split('/')
    .map((segment) =>
      segment.replace(
        /\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}|([^{]+)/g,
        (_all, name?: string, optional?: string, literal?: string) => {
          if (literal !== undefined) return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          params.push(name!);
          return optional ? '([^/]*)' : '([^/]+)';
        },
      ),
    )
    .join('/');
  const methods = (definition.options.methods ?? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).map(
    (m) => m.toUpperCase(),
  );
  return { definition, methods, pattern: new RegExp(`^${source}/?$`, 'i'), params };
}

/** Bodies the handler gave whole (everything but streams and async iterables). */
function isWhole(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof Uint8Array ||
    body instanceof ArrayBuffer
  );
}

/**
 * The request as the Functions host hands it to the worker with `enableHttpStream` (the library's createStreamRequest):
 * its body a stream the function reads as far as it chooses, never read whole first, so a chunked body of any length
 * costs what the function reads of it (at most its own limit). `nativeRequest` is how the library itself builds one;
 * its public type does not list it.
 */
function streamingRequest(
  req: http.IncomingMessage,
  method: string,
  url: URL,
  params: Record<string, string>,
): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const hasBody = method !== 'GET' && method !== 'HEAD';
  // The incoming message itself, as the Functions library's stream mode gives it (createStreamRequest): fetch reads an
  // async iterable as it comes. Readable.toWeb around it cost a tenth of a warm HIT's CPU (npm run bench:profile).
  const nativeRequest = new Request(url, {
    method,
    headers,
    body: hasBody ? req : undefined,
    duplex: 'half',
  });
  const init = { method, url: url.toString(), headers, params, query: Object.fromEntries(url.searchParams) };
  return new HttpRequest({ ...init, nativeRequest } as HttpRequestInit);
}

function bodyTooLarge(): AppError {
  return new AppError('payload-too-large', 'The request body is over 100 MB (the Functions host limit)');
}

/** Reads the body to its end, keeping none of it; false once there is no one to answer (it broke off midway). */
async function drainBody(req: http.IncomingMessage): Promise<boolean> {
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw bodyTooLarge();
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    // Aborted mid-body (closed, or a chunked body Node's parser refused: clientError answered it).
    return false;
  }
  return true;
}

/** Why Node's parser refused a request, as the app's problem (RFC 9457). */
function unreadable(error: Error & { code?: string; reason?: string }): AppError {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new AppError('invalid-request', `The request headers are over ${http.maxHeaderSize / 1024} KB`, {
      errors: [{ field: '(headers)', message: `are over ${http.maxHeaderSize / 1024} KB in all` }],
    });
  }
  if (error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW')
    return new AppError('payload-too-large', 'The chunk extensions are too large');
  return new AppError(
    'invalid-request',
    `The request is not valid HTTP/1.1: ${error.reason ?? error.code ?? error.message}`,
  );
}

/** A whole response, for a socket Node's HTTP server has given up on (no ServerResponse there). */
function rawResponse(init: HttpResponseInit): string {
  const status = init.status ?? 200;
  const body = typeof init.body === 'string' ? init.body : '';
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\n`;
  new Headers(init.headers).forEach((value, key) => (head += `${key}: ${value}\r\n`));
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
