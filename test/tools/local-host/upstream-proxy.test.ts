import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpFunctionDefinition } from '../../../src/app/function-definition.ts';
import { createLocalHost, type LocalHostOptions } from '../../../tools/local-host/http-host.ts';
import { readUpstreamUrl } from '../../../tools/local-host/upstream-proxy.ts';
import { findFreePort } from '../../../tools/local-services/free-port.ts';

const WEB_ORIGIN = 'http://localhost:3000';
const AUDITION_ROUTE = 'v1/projects/{projectId}/voices/{voiceId}/audition';

/** What reached the Khipu Cloud API stand-in. */
interface Arrived {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A stand-in for the Khipu Cloud API: records every request, answers with the test's handler (the default echoes). */
async function startUpstream() {
  const arrived: Arrived[] = [];
  const open = new Set<http.ServerResponse>();
  let handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Promise<string>) => void = (
    _req,
    res,
    body,
  ) => void body.then((text) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`echo:${text}`));
  const server = http.createServer((req, res) => {
    open.add(res);
    res.once('close', () => open.delete(res));
    const record: Arrived = { method: req.method!, url: req.url!, headers: req.headers, body: '' };
    arrived.push(record);
    const body = new Promise<string>((resolve) => {
      req.on('data', (chunk: Buffer) => (record.body += chunk.toString()));
      req.once('end', () => resolve(record.body));
    });
    handler(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived,
    answer: (next: typeof handler) => (handler = next),
    stop: () => {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The app's own route, answered by a function (never by the upstream). */
const auditionFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'audition',
  options: {
    methods: ['POST'],
    route: AUDITION_ROUTE,
    handler: (request) => ({ status: 200, body: `from the function: ${request.params.voiceId}` }),
  },
};

async function startHost(options: Partial<LocalHostOptions>) {
  const lines: string[] = [];
  const server = createLocalHost({
    functions: [auditionFunction],
    routePrefix: 'api',
    corsOrigins: [WEB_ORIGIN],
    corsCredentials: false,
    log: (line) => lines.push(line),
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    lines,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** A request over plain node:http (fetch will not send hop-by-hop headers), its answer read whole. */
function send(port: number, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: string) {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.once('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: text }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

const named = (answer: Answer, name: string) =>
  answer.rawHeaders.filter((_value, i) => i % 2 === 0 && answer.rawHeaders[i]!.toLowerCase() === name);

describe('the local host’s upstream (KHIPU_CLOUD_API_URL): paths no function serves go to the Khipu Cloud API', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let host: Awaited<ReturnType<typeof startHost>>;

  beforeAll(async () => {
    upstream = await startUpstream();
    host = await startHost({ upstream: { url: new URL(upstream.url) } });
  });
  afterAll(async () => {
    await host.stop();
    await upstream.stop();
  });
  afterEach(() => {
    upstream.arrived.length = 0;
    host.lines.length = 0;
    upstream.answer((_req, res, body) => void body.then((text) => res.end(`echo:${text}`)));
  });

  it('forwards method, path and query, and the headers but the hop-by-hop ones, with Host the upstream’s', async () => {
    const answer = await send(host.port, 'POST', '/api/v1/auth/refresh?next=%2Fbooks&x=1', {
      authorization: 'Bearer secret-token',
      cookie: 'session=s3cret',
      'content-type': 'application/json',
      connection: 'keep-alive, x-only-this-hop',
      'x-only-this-hop': '1',
      'keep-alive': 'timeout=5',
      'proxy-authorization': 'Basic cHJveHk=',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'x-request-id': 'abc',
    });
    expect(answer.status).toBe(200);
    expect(upstream.arrived).toHaveLength(1);
    const [arrived] = upstream.arrived;
    expect(arrived).toMatchObject({ method: 'POST', url: '/api/v1/auth/refresh?next=%2Fbooks&x=1' });
    expect(arrived!.headers).toMatchObject({
      host: new URL(upstream.url).host,
      authorization: 'Bearer secret-token',
      cookie: 'session=s3cret',
      'content-type': 'application/json',
      'x-request-id': 'abc',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': `127.0.0.1:${host.port}`,
    });
    for (const hop of ['keep-alive', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'x-only-this-hop'])
      expect(arrived!.headers, hop).not.toHaveProperty(hop);
    // Node's own client says how it connects; what the caller said about its hop is gone.
    expect(arrived!.headers.connection ?? 'close').toBe('close');
  });

  it('appends the path to the upstream URL’s own path, and proxies paths outside /api too', async () => {
    const based = await startHost({ upstream: { url: new URL(`${upstream.url}/cloud/`) } });
    try {
      expect((await send(based.port, 'GET', '/api/v1/books?page=2')).status).toBe(200);
      expect((await send(based.port, 'GET', '/docs')).status).toBe(200);
      expect(upstream.arrived.map((a) => a.url)).toEqual(['/cloud/api/v1/books?page=2', '/cloud/docs']);
    } finally {
      await based.stop();
    }
  });

  it('answers the upstream’s status, headers and body, with the host’s CORS instead of the upstream’s', async () => {
    upstream.answer((_req, res) =>
      res
        .writeHead(201, {
          'content-type': 'application/json',
          'x-cache-status': 'HIT',
          'set-cookie': ['a=1', 'b=2'],
          vary: 'Accept-Encoding',
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          'access-control-expose-headers': 'X-Upstream-Only',
          connection: 'keep-alive, x-upstream-hop',
          'x-upstream-hop': '1',
        })
        .end('{"ok":true}'),
    );
    const answer = await send(host.port, 'GET', '/api/v1/books', { origin: WEB_ORIGIN });
    expect([answer.status, answer.body]).toEqual([201, '{"ok":true}']);
    expect(answer.headers).toMatchObject({
      'content-type': 'application/json',
      'x-cache-status': 'HIT',
      'set-cookie': ['a=1', 'b=2'],
      vary: 'Accept-Encoding, Origin',
    });
    expect(named(answer, 'access-control-allow-origin')).toHaveLength(1);
    expect(answer.headers['access-control-allow-origin']).toBe(WEB_ORIGIN);
    expect(answer.headers).not.toHaveProperty('access-control-allow-credentials');
    expect(answer.headers['access-control-expose-headers']).toBe(
      'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition',
    );
    expect(answer.headers).not.toHaveProperty('x-upstream-hop');

    // An origin the host does not allow gets no CORS at all, whatever the upstream says.
    const stranger = await send(host.port, 'GET', '/api/v1/books', { origin: 'https://evil.example' });
    expect(stranger.rawHeaders.filter((h) => /^access-control-/i.test(h))).toEqual([]);
  });

  it('answers a preflight for a proxied path itself: the upstream never sees it', async () => {
    const preflight = await send(host.port, 'OPTIONS', '/api/v1/auth/refresh', {
      origin: WEB_ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(WEB_ORIGIN);
    // From an origin the host does not allow: answered too, with no CORS header, and not forwarded either.
    const stranger = await send(host.port, 'OPTIONS', '/api/v1/auth/refresh', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization',
    });
    expect(stranger.status).toBe(204);
    expect(stranger.rawHeaders.filter((h) => /^access-control-/i.test(h))).toEqual([]);
    expect(upstream.arrived).toEqual([]);
  });

  it('streams the upstream’s answer: the first chunk reaches the caller before the upstream ends the body', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let upstreamEnded = false;
    let endedAtFirstChunk: boolean | undefined;
    upstream.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.write('first chunk');
      void released.then(() => res.end('second chunk', () => (upstreamEnded = true)));
    });
    const chunks = await new Promise<string[]>((resolve, reject) => {
      const received: string[] = [];
      const req = http.get({ host: '127.0.0.1', port: host.port, path: '/api/v1/chapters/1/audio', agent: false });
      req.once('response', (res) => {
        res.on('data', (chunk: Buffer) => {
          received.push(chunk.toString());
          if (received.length === 1) {
            endedAtFirstChunk = upstreamEnded;
            release();
          }
        });
        res.once('end', () => resolve(received));
        res.once('error', reject);
      });
      req.once('error', reject);
    });
    expect(chunks[0]).toBe('first chunk');
    expect(endedAtFirstChunk, 'the upstream had ended its body when the first chunk arrived').toBe(false);
    expect(chunks.join('')).toBe('first chunksecond chunk');
  });

  it('streams a POST body upstream: its first chunk arrives while the caller is still sending', async () => {
    let firstArrived!: (chunk: string) => void;
    const arrivedFirst = new Promise<string>((resolve) => (firstArrived = resolve));
    upstream.answer((req, res, body) => {
      req.once('data', (chunk: Buffer) => firstArrived(chunk.toString()));
      void body.then((text) => res.end(`got ${text.length} bytes`));
    });
    const answer = new Promise<Answer>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: host.port,
        method: 'POST',
        path: '/api/v1/manuscripts',
        agent: false,
        headers: { 'content-type': 'text/plain' }, // chunked: no length
      });
      req.once('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: [], body: text }));
      });
      req.once('error', reject);
      req.write('part one;');
      // The rest only once the upstream holds the first part: the body is not gathered first.
      void arrivedFirst.then(() => req.end('part two'));
    });
    expect(await arrivedFirst).toBe('part one;');
    expect((await answer).body).toBe('got 17 bytes');
    expect(upstream.arrived[0]!.body).toBe('part one;part two');
  });

  it('cuts the caller’s connection when the upstream’s body breaks midway (no clean end)', async () => {
    upstream.answer((_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.write('some audio', () => setImmediate(() => res.socket?.destroy()));
    });
    const outcome = await new Promise<{ received: string; error?: string; ended: boolean }>((resolve) => {
      let received = '';
      const req = http.get({ host: '127.0.0.1', port: host.port, path: '/api/v1/chapters/2/audio', agent: false });
      req.once('response', (res) => {
        res.on('data', (chunk: Buffer) => (received += chunk.toString()));
        res.once('end', () => resolve({ received, ended: true }));
        res.once('error', (error) => resolve({ received, error: error.message, ended: false }));
      });
      req.once('error', (error) => resolve({ received, error: error.message, ended: false }));
    });
    expect(outcome).toMatchObject({ received: 'some audio', ended: false });
    expect(outcome.error).toMatch(/aborted|socket hang up|ECONNRESET/);
  });

  it('never proxies the app’s own routes: an audition answers from its function, a wrong method is 405', async () => {
    const audition = await send(host.port, 'POST', '/api/v1/projects/p1/voices/es-PE-CamilaNeural/audition', {}, '{}');
    expect([audition.status, audition.body]).toEqual([200, 'from the function: es-PE-CamilaNeural']);
    const wrongMethod = await send(host.port, 'GET', '/api/v1/projects/p1/voices/es-PE-CamilaNeural/audition');
    expect([wrongMethod.status, wrongMethod.headers.allow]).toEqual([405, 'POST']);
    // The admin endpoint stays the host's own.
    const admin = await send(host.port, 'POST', '/admin/functions/nothing');
    expect([admin.status, admin.headers['content-type']]).toEqual([404, 'application/problem+json']);
    expect(upstream.arrived).toEqual([]);
  });

  it('logs one line per proxied request: method, path without its query, status, ms; no token, cookie or body', async () => {
    await send(
      host.port,
      'POST',
      '/api/v1/auth/refresh?code=query-secret',
      { authorization: 'Bearer token-secret', cookie: 'c=cookie-secret' },
      '{"refresh_token":"body-secret"}',
    );
    expect(host.lines).toHaveLength(1);
    expect(host.lines[0]).toMatch(/^info: \[upstream\] POST \/api\/v1\/auth\/refresh 200 \d+ ms$/);
  });
});

describe('the local host’s upstream when it fails', () => {
  it('answers 502 problem+json at once when the upstream refuses the connection', async () => {
    const closedPort = await findFreePort();
    const host = await startHost({ upstream: { url: new URL(`http://127.0.0.1:${closedPort}`) } });
    try {
      const answer = await send(host.port, 'GET', '/api/v1/books', { origin: WEB_ORIGIN });
      expect([answer.status, answer.headers['content-type']]).toEqual([502, 'application/problem+json']);
      expect(answer.headers['access-control-allow-origin']).toBe(WEB_ORIGIN);
      expect(JSON.parse(answer.body)).toMatchObject({
        type: 'https://khipu.studio/problems/upstream-unreachable',
        title: 'Upstream unreachable',
        status: 502,
        detail: expect.stringMatching(/KHIPU_CLOUD_API_URL.*refused the connection/),
      });
      expect(host.lines).toEqual([expect.stringMatching(/^info: \[upstream\] GET \/api\/v1\/books 502 /)]);
      // A body still arriving is no reason to hang: the same answer, the rest of the body discarded.
      const upload = await send(host.port, 'POST', '/api/v1/uploads', {}, 'x'.repeat(1_000_000));
      expect([upload.status, JSON.parse(upload.body).type]).toEqual([
        502,
        'https://khipu.studio/problems/upstream-unreachable',
      ]);
    } finally {
      await host.stop();
    }
  });

  it('answers 504 problem+json when the upstream accepts the connection but never answers, at its deadline', async () => {
    // Accepts, reads nothing, answers nothing.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    const host = await startHost({ upstream: { url, deadlineMs: 200 } });
    try {
      const answer = await send(host.port, 'POST', '/api/v1/auth/refresh', {}, '{"refresh_token":"x"}');
      expect([answer.status, answer.headers['content-type']]).toEqual([504, 'application/problem+json']);
      expect(JSON.parse(answer.body)).toMatchObject({
        type: 'https://khipu.studio/problems/upstream-timeout',
        title: 'Upstream did not answer in time',
        status: 504,
        detail: expect.stringMatching(/did not answer within 0\.2 s/),
      });
      expect(sockets.size).toBe(1);
    } finally {
      await host.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('without an upstream, answers a path no function serves with 404 problem+json, as before', async () => {
    const host = await startHost({});
    try {
      const answer = await send(host.port, 'GET', '/api/v1/auth/refresh');
      expect([answer.status, answer.headers['content-type']]).toEqual([404, 'application/problem+json']);
      expect(JSON.parse(answer.body)).toMatchObject({ status: 404, detail: 'No function at this path' });
    } finally {
      await host.stop();
    }
  });
});

describe('readUpstreamUrl (the setting, checked once at start)', () => {
  it('takes an http or https URL, and blank as none', () => {
    expect(readUpstreamUrl('http://localhost:8000')?.href).toBe('http://localhost:8000/');
    expect(readUpstreamUrl(' https://api.khipu.example/base ')?.href).toBe('https://api.khipu.example/base');
    expect(readUpstreamUrl('')).toBeUndefined();
    expect(readUpstreamUrl(undefined)).toBeUndefined();
  });

  it('refuses anything else with a message naming the setting (or the flag)', () => {
    expect(() => readUpstreamUrl('localhost:8000')).toThrow(/^KHIPU_CLOUD_API_URL must be an http:\/\/ or https:\/\//);
    expect(() => readUpstreamUrl('not a url')).toThrow(/^KHIPU_CLOUD_API_URL must be an http/);
    expect(() => readUpstreamUrl('ftp://files.example', '--upstream')).toThrow(/^--upstream must be an http/);
    expect(() => readUpstreamUrl('http://user:pw@localhost:8000')).toThrow(/must not carry credentials/);
    expect(() => readUpstreamUrl('http://user:pw@localhost:8000')).not.toThrow(/pw/);
    expect(() => readUpstreamUrl('http://localhost:8000/?x=1')).toThrow(/query or fragment/);
  });
});
