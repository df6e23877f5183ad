import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../src/errors.ts';
import { EXPOSED_HEADERS } from '../../src/handlers/audition-response.ts';
import { statusOf } from '../../src/handlers/problem-response.ts';

/** The setting that names the upstream (`--upstream` of `npm run serve` / `npm start` sets it too). */
export const UPSTREAM_SETTING = 'KHIPU_CLOUD_API_URL';

/** How long the upstream has to accept the connection, and then to answer (its headers) after the request's last byte. */
export const UPSTREAM_DEADLINE_MS = 30_000;

/**
 * Where the local host sends every request no function of this app serves: the Khipu Cloud
 * API, so that the web app's one base URL (`VITE_API_BASE_URL`) reaches both services locally,
 * as path routing in front of them does in production.
 */
export interface Upstream {
  url: URL;
  /** UPSTREAM_DEADLINE_MS unless a test needs a short one. */
  deadlineMs?: number;
}

/**
 * The upstream a setting names (blank: none). Only http and https, without credentials, query
 * or fragment: anything else stops the host at start with a message naming `source`.
 */
export function readUpstreamUrl(value: string | undefined, source: string = UPSTREAM_SETTING): URL | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${source} must be an http:// or https:// URL such as http://localhost:8000 (got "${text}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${source} must be an http:// or https:// URL (got ${url.protocol} in "${text}")`);
  // Not echoed: the value holds a password.
  if (url.username || url.password) throw new Error(`${source} must not carry credentials (user:password@)`);
  if (url.search || url.hash) throw new Error(`${source} must not have a query or fragment (got "${text}")`);
  return url;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never forwarded; `proxy-*` too. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Why the upstream failed before its answer began. */
class UpstreamDeadlineError extends Error {
  constructor(readonly phase: 'connect' | 'answer') {
    super(phase === 'connect' ? 'connect deadline' : 'answer deadline');
    this.name = 'UpstreamDeadlineError';
  }
}

export type ForwardToUpstream = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: URL,
  cors: Record<string, string> | undefined,
) => Promise<void>;

/**
 * A request forwarded as it arrives (method, path and query under the upstream's path, its
 * headers but the hop-by-hop ones, its body streamed) and the upstream's answer streamed back.
 * The browser sees the local host's CORS headers only (`cors`, plus the headers the web app
 * reads), never the upstream's. Before the answer begins, a refused or broken connection is a
 * thrown 502 `upstream-unreachable`, a missed deadline a 504 `upstream-timeout` (the host answers
 * them as problem+json); a body that breaks midway cuts the client's connection. One log line
 * per request: method, path (no query), status, milliseconds; never headers or bodies.
 */
export function createUpstreamForwarder(upstream: Upstream, log: (line: string) => void): ForwardToUpstream {
  const client = upstream.url.protocol === 'https:' ? https : http;
  // No kept-alive sockets: one the upstream closed while idle would turn the next request into a 502.
  const agent = new client.Agent({ keepAlive: false });
  const deadlineMs = upstream.deadlineMs ?? UPSTREAM_DEADLINE_MS;
  const basePath = upstream.url.pathname.replace(/\/+$/, '');

  return async (req, res, target, cors) => {
    const started = performance.now();
    const logLine = (outcome: string) =>
      log(`info: [upstream] ${req.method} ${target.pathname} ${outcome} ${Math.round(performance.now() - started)} ms`);
    let answer: http.IncomingMessage;
    try {
      answer = await request(req, res, {
        client,
        agent,
        deadlineMs,
        url: upstream.url,
        path: `${basePath}${target.pathname}${target.search}`,
      });
    } catch (error) {
      if (res.destroyed || res.writableEnded) {
        logLine('client gone');
        return;
      }
      const problem = toProblem(error, upstream.url, deadlineMs);
      logLine(`${statusOf(problem.code)} ${problem.code}`);
      throw problem;
    }
    const status = answer.statusCode ?? 502;
    res.writeHead(status, answerHeaders(answer, cors && { ...cors, 'Access-Control-Expose-Headers': EXPOSED_HEADERS }));
    res.flushHeaders();
    try {
      await pipeline(answer, res);
      logLine(String(status));
    } catch {
      // Broken midway (either side): no clean end, so the caller cannot take a cut body for a whole one.
      res.destroy();
      answer.destroy();
      logLine(`${status} cut off`);
    }
  };
}

interface RequestPlan {
  client: typeof http | typeof https;
  agent: http.Agent;
  deadlineMs: number;
  url: URL;
  path: string;
}

/** The upstream's answer (its headers), with the request's body piped to it as it arrives. */
function request(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  plan: RequestPlan,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = plan.client.request({
      agent: plan.agent,
      protocol: plan.url.protocol,
      hostname: plan.url.hostname.replace(/^\[|\]$/g, ''), // an IPv6 literal without its brackets
      port: plan.url.port || undefined,
      method: req.method,
      path: plan.path,
      headers: forwardedHeaders(req, plan.url),
    });
    let settled = false;
    let phase: 'connect' | 'answer' = 'connect';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (settled) return;
      clearTimeout(timer);
      timer = setTimeout(() => outgoing.destroy(new UpstreamDeadlineError(phase)), plan.deadlineMs);
    };
    const settle = () => {
      settled = true;
      clearTimeout(timer);
    };
    arm();
    outgoing.once('socket', (socket) => {
      const connected = () => ((phase = 'answer'), arm());
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    });
    // The answer's deadline counts from the request's last byte: a long upload is not a hung upstream.
    req.on('data', () => phase === 'answer' && arm());
    req.once('end', () => phase === 'answer' && arm());
    outgoing.once('response', (answer) => (settle(), resolve(answer)));
    outgoing.once('error', (error) => {
      settle();
      req.unpipe(outgoing);
      req.resume(); // the rest of the body, discarded: the connection stays readable for the problem answer
      reject(error);
    });
    outgoing.once('close', () => (settled ? undefined : (settle(), reject(new Error('upstream request closed')))));
    // The caller went away (closed mid-upload or before the answer): nobody is left to answer.
    req.once('error', () => outgoing.destroy());
    res.once('close', () => {
      if (!settled) outgoing.destroy();
    });
    req.pipe(outgoing);
  });
}

/** The request's headers as the upstream gets them: no hop-by-hop ones, Host the upstream's, X-Forwarded-*. */
function forwardedHeaders(req: http.IncomingMessage, upstream: URL): http.OutgoingHttpHeaders {
  const listed = connectionOptions(req.headersDistinct.connection);
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    // `expect`: the local host has answered 100-continue itself; the body follows regardless.
    if (!values || isHopByHop(name, listed) || name === 'host' || name === 'expect') continue;
    if (name.startsWith('x-forwarded-')) continue;
    headers[name] = values.length === 1 ? values[0] : values;
  }
  headers.host = upstream.host;
  const forwardedFor = [...(req.headersDistinct['x-forwarded-for'] ?? []), req.socket.remoteAddress ?? 'unknown'];
  headers['x-forwarded-for'] = forwardedFor.join(', ');
  headers['x-forwarded-proto'] = 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  return headers;
}

/** The upstream's answer headers, minus hop-by-hop and its own CORS (`access-control-*`), plus the host's CORS. */
function answerHeaders(
  answer: http.IncomingMessage,
  cors: Record<string, string> | undefined,
): http.OutgoingHttpHeaders {
  const listed = connectionOptions(answer.headersDistinct.connection);
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(answer.headersDistinct)) {
    if (!values || isHopByHop(name, listed) || name.startsWith('access-control-')) continue;
    headers[name] = values.length === 1 && name !== 'set-cookie' ? values[0] : values;
  }
  for (const [name, value] of Object.entries(cors ?? {})) {
    const key = name.toLowerCase();
    if (key !== 'vary') headers[key] = value;
    else headers.vary = mergeVary(answer.headersDistinct.vary ?? [], value);
  }
  return headers;
}

/** One Vary with the upstream's fields and ours (`Origin`), each once. */
function mergeVary(upstream: string[], ours: string): string {
  const fields = upstream.flatMap((value) => value.split(',').map((field) => field.trim())).filter(Boolean);
  if (fields.includes('*')) return '*';
  const known = new Set(fields.map((field) => field.toLowerCase()));
  for (const field of ours.split(',').map((name) => name.trim())) {
    if (!known.has(field.toLowerCase())) fields.push(field);
    known.add(field.toLowerCase());
  }
  return fields.join(', ');
}

function isHopByHop(name: string, listed: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || listed.has(name);
}

/** The header names a Connection header lists: hop-by-hop for this one connection too. */
function connectionOptions(values: string[] | undefined): Set<string> {
  return new Set(
    (values ?? []).flatMap((value) => value.split(',').map((name) => name.trim().toLowerCase())).filter(Boolean),
  );
}

/** A failure before the answer began, as the problem the caller gets. */
function toProblem(error: unknown, upstream: URL, deadlineMs: number): AppError {
  const where = `The Khipu Cloud API upstream (${UPSTREAM_SETTING}, ${upstream.origin})`;
  const seconds = `${deadlineMs / 1000} s`;
  if (error instanceof UpstreamDeadlineError) {
    return new AppError(
      'upstream-timeout',
      error.phase === 'connect'
        ? `${where} did not accept the connection within ${seconds}`
        : `${where} did not answer within ${seconds}`,
      { cause: error },
    );
  }
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === 'ECONNREFUSED'
      ? 'refused the connection: is it running?'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'has a host name that does not resolve'
        : `closed the connection without answering (${code ?? (error instanceof Error ? error.message : 'unknown')})`;
  return new AppError('upstream-unreachable', `${where} ${why}`, { cause: error });
}
