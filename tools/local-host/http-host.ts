import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { HttpRequest, HttpResponse, InvocationContext } from '@azure/functions';
import type { FunctionDefinition, HttpFunctionDefinition, TimerFunctionDefinition } from '../../src/app/function-definition.ts';
import { describeError } from '../../src/errors.ts';

export interface LocalHostOptions {
  functions: FunctionDefinition[];
  /** `api`, as host.json's extensions.http.routePrefix. */
  routePrefix: string;
  corsOrigins: string[];
  corsCredentials: boolean;
  log: (line: string) => void;
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
 */
export function createLocalHost(options: LocalHostOptions): http.Server {
  const routes = options.functions.filter((f): f is HttpFunctionDefinition => f.trigger === 'http').map(toRoute);
  const timers = new Map(options.functions.filter((f): f is TimerFunctionDefinition => f.trigger === 'timer').map((f) => [f.name.toLowerCase(), f]));
  return http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log(`error: local host: ${describeError(error, { stack: true })}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('Internal error');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    const method = (req.method ?? 'GET').toUpperCase();
    const cors = corsHeaders(req);
    if (method === 'OPTIONS' && req.headers['access-control-request-method'] && cors) {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? '*',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return;
    }

    // Like Core Tools: POST /admin/functions/{name} runs a non-HTTP function now (202).
    const admin = /^\/admin\/functions\/([^/]+)\/?$/.exec(url.pathname);
    if (admin) {
      const timer = timers.get(decodeURIComponent(admin[1]!).toLowerCase());
      if (!timer || method !== 'POST') {
        res.writeHead(timer ? 405 : 404);
        res.end();
        return;
      }
      await readBody(req);
      res.writeHead(202);
      res.end();
      void runTimer(timer, options.log); // it logs its own failure; the caller got its 202
      return;
    }

    const prefix = options.routePrefix ? `/${options.routePrefix}/` : '/';
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : undefined;
    const matches = path === undefined ? [] : routes.map((route) => ({ route, match: route.pattern.exec(path) })).filter((m) => m.match);
    const found = matches.find(({ route }) => route.methods.includes(method));
    if (!found) {
      res.writeHead(matches.length > 0 ? 405 : 404, cors ?? {});
      res.end();
      return;
    }

    const body = await readBody(req);
    if (body === undefined) {
      res.writeHead(413, cors ?? {});
      res.end();
      return;
    }
    const params: Record<string, string> = {};
    found.route.params.forEach((name, i) => {
      const value = found.match![i + 1];
      if (value !== undefined) params[name] = decodeURIComponent(value);
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      params,
      query: Object.fromEntries(url.searchParams),
      body: body.length > 0 ? { bytes: body } : undefined,
    });
    const { name } = found.route.definition;
    const context = new InvocationContext({
      invocationId: crypto.randomUUID(),
      functionName: name,
      logHandler: (level, ...args) => options.log(`${level}: [${name}] ${args.map(String).join(' ')}`),
    });
    const init = await found.route.definition.options.handler(request, context);
    const plain = !(init.headers instanceof Headers) && !Array.isArray(init.headers) && !init.cookies;
    if (plain && (init.body instanceof Uint8Array || init.body instanceof ReadableStream)) {
      // Audio with plain headers (every audio answer): written as it is, without a fetch
      // Response around it. A stream keeps the Content-Length the handler gave (a stored
      // entry's) or goes out chunked (a miss being synthesized).
      const outHeaders: Record<string, string | string[]> = { ...cors };
      for (const [key, value] of Object.entries(init.headers ?? {})) outHeaders[key.toLowerCase()] = value;
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
    const origin = req.headers.origin;
    if (!origin) return undefined;
    const allowed = options.corsOrigins.includes('*') || options.corsOrigins.includes(origin);
    if (!allowed) return undefined;
    return {
      'Access-Control-Allow-Origin': options.corsOrigins.includes('*') && !options.corsCredentials ? '*' : origin,
      ...(options.corsCredentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
      Vary: 'Origin',
    };
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
  return Promise.resolve(definition.options.handler({ isPastDue: false, scheduleStatus: undefined, schedule: { adjustForDST: false } } as never, context)).then(
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
      segment.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}|([^{]+)/g, (_all, name?: string, optional?: string, literal?: string) => {
        if (literal !== undefined) return literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(name!);
        return optional ? '([^/]*)' : '([^/]+)';
      }),
    )
    .join('/');
  const methods = (definition.options.methods ?? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).map((m) => m.toUpperCase());
  return { definition, methods, pattern: new RegExp(`^${source}/?$`, 'i'), params };
}

/** Bodies the handler gave whole (everything but streams and async iterables). */
function isWhole(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
