// Hostile HTTP requests for the local host, as raw bytes on a socket: fetch and undici refuse to
// send a malformed Host, a bad escape in a path or a broken request line, and those are the
// requests to try. Used by `npm run fuzz:host` and, with fewer requests, by the test suite.
import net from 'node:net';
import fc from 'fast-check';

/** What a generated request aims at: the host, one project, and tokens that pass. */
export interface HostileTarget {
  port: number;
  projectId: string;
  /** Access tokens that authenticate (the project's user, a user of another tenant). */
  tokens: string[];
}

export interface HostileRequest {
  /** What is hostile about it: the report counts statuses per kind. */
  kind: string;
  method: string;
  bytes: Buffer;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const VOICE = 'es-AR-ElenaNeural';

/** Escapes that decode to nothing: not `%` + two hex digits, or bytes that are not UTF-8. */
const BAD_ESCAPES = [
  '%ZZ',
  '%E0%A4%A',
  '%C0%AF',
  '%',
  '%%',
  '%2',
  '%G0',
  '%ED%A0%80',
  '%FF',
  '%80',
  '%F4%90%80%80',
  '%E0%80%80',
  'abc%',
];
/** Segments that decode but are odd: NUL, slashes, dots, markup, a 3,000-character id. */
const ODD_SEGMENTS = [
  '%00',
  '%2F',
  '..',
  '.',
  '%2E%2E',
  '%3Cvoice%3E',
  '%E2%80%AE',
  '%EF%BF%BF',
  '~',
  "'",
  'x'.repeat(3_000),
  '%20',
  '+',
];
/** Host values to refuse, and one to take (5,000 characters is odd, not invalid). */
const BAD_HOSTS = [
  'a b',
  '[',
  '%zz',
  'x/y',
  'x?y',
  'x#y',
  'x:99999',
  'x:abc',
  '',
  ' ',
  '[::1',
  'x\\y',
  '\xe9',
  'x:1:2',
  '@',
  'x'.repeat(5_000),
];
const CREDENTIALS = ['user:pass@x', 'user@x', ':@x', 'a:b@127.0.0.1:80'];
const BAD_METHODS = [
  'FOO',
  'get',
  'G ET',
  'CONNECT',
  'TRACE',
  'M-SEARCH',
  'PROPFIND',
  'X'.repeat(100),
  'PRI',
  'SOURCE',
];
const BAD_VERSIONS = ['HTTP/2.0', 'HTTP/1.9', 'HTTX/1.1', 'HTTP/1', 'http/1.1', 'HTTP/0.9', ''];
const ODD_TARGETS = [
  '*',
  'api/health',
  '//evil/api/health',
  '/api/health#x',
  '/api/health?%ZZ=%C0%AF&a=%',
  '/api/health?__proto__=x&constructor=y',
  `/api/${'a/'.repeat(2_000)}`,
  '/\\api\\health',
  '/api/%2e%2e/health',
];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  '',
  'application/x-www-form-urlencoded',
  'application/problem+json',
  '*/*',
  'application/json; charset=latin1',
];
const MARKUP = [
  '<',
  '>',
  '&',
  '"',
  '</voice>',
  '<voice name="x">',
  '<![CDATA[',
  ']]>',
  '<?xml?>',
  '<!--',
  '\u0000',
  '\u007f',
  '\u0085',
  '\u009f',
  '\ud800',
  '\udfff',
  '\ufdd0',
  '\ufffe',
];

const hostileString = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(...MARKUP, 'NaN', '__proto__', 'constructor', '', ' ', '\t\n'),
  fc.array(fc.constantFrom(...MARKUP, 'Hola ', ' '), { maxLength: 6 }).map((parts) => parts.join('')),
  fc.string({ minLength: 5_001, maxLength: 5_200 }),
);
const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.double(),
    fc.integer(),
    fc.constantFrom(null, true, false, 1e308, -0, Number.MAX_SAFE_INTEGER),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 3 }),
  ),
})).value;
const auditionBody = fc.record(
  {
    voice: fc.oneof(fc.constant(VOICE), hostileValue, fc.record({ id: fc.oneof(fc.constant(VOICE), hostileValue) })),
    text: fc.oneof(fc.constant('Hola'), hostileString, hostileValue),
    style: fc.oneof(fc.constantFrom('cheerful', 'none', null), hostileValue),
    styledegree: hostileValue,
    style_degree: hostileValue,
    rate_pct: fc.oneof(fc.integer({ min: -100, max: 200 }), hostileValue),
    pitch_pct: fc.oneof(fc.integer({ min: -50, max: 50 }), hostileValue),
    ['__proto__']: hostileValue,
  },
  { requiredKeys: [] },
);
/** A JSON body for any route: audition-shaped, prewarm-shaped, anything, or not JSON at all. */
const hostileBody: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: auditionBody.map((b) => Buffer.from(JSON.stringify(b))) },
  {
    weight: 2,
    arbitrary: fc.array(auditionBody, { maxLength: 4 }).map((auditions) => Buffer.from(JSON.stringify({ auditions }))),
  },
  { weight: 1, arbitrary: hostileValue.map((v) => Buffer.from(JSON.stringify(v) ?? 'undefined')) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('', '{', 'null', '[]', '{"text":"\\ud800"}', '{"text":"a\\u0085b"}', '{"auditions":{}}')
      .map((s) => Buffer.from(s)),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 20_000 }).map((depth) => Buffer.from('['.repeat(depth) + ']'.repeat(depth))),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constant(Buffer.from(JSON.stringify({ voice: VOICE, text: 'x'.repeat(70_000) }))) },
);

interface Parts {
  method: string;
  target: string;
  version: string;
  /** Header lines, `Name: value`, latin1 (bytes above 0x7f pass through as themselves). */
  headers: string[];
  body: Buffer;
  /** The body is already in chunked coding (broken on purpose). */
  chunked?: true;
  /** Which segments of the path are route parameters (ids the functions read). */
  paramAt: readonly number[];
}

/** A valid request to one of the app's routes (or the host's admin route), before something in it is spoiled. */
function validParts(target: HostileTarget): fc.Arbitrary<Parts> {
  const project = fc.oneof(
    { weight: 4, arbitrary: fc.constant(target.projectId) },
    { weight: 1, arbitrary: fc.uuid() },
  );
  const route = fc.oneof(
    project.map((id) => ({
      method: 'POST',
      path: `/api/v1/projects/${id}/characters/audition`,
      json: true,
      paramAt: [4],
    })),
    project.map((id) => ({
      method: 'POST',
      path: `/api/v1/projects/${id}/voices/${VOICE}/audition`,
      json: true,
      paramAt: [4, 6],
    })),
    project.map((id) => ({
      method: 'POST',
      path: `/api/v1/projects/${id}/characters/auditions/prewarm`,
      json: true,
      paramAt: [4],
    })),
    fc.constant({ method: 'GET', path: '/api/v1/audio-cache/stats', json: false, paramAt: [] }),
    fc.constant({ method: 'DELETE', path: `/api/v1/audio-cache?voice=${VOICE}`, json: false, paramAt: [] }),
    fc.constant({ method: 'GET', path: '/api/health', json: false, paramAt: [] }),
    fc.constant({ method: 'POST', path: '/admin/functions/nothing', json: false, paramAt: [3] }),
  );
  // Some lines new each time: misses that reach the speech service, not only cache hits.
  const speakable = fc
    .nat({ max: 50 })
    .map((n) => Buffer.from(JSON.stringify({ voice: VOICE, text: `Hola, soy la prueba ${n}.` })));
  const authorization = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...target.tokens).map((token) => `Bearer ${token}`) },
    { weight: 1, arbitrary: fc.constantFrom(...target.tokens).map((token) => `Bearer ${token.slice(0, -2)}xx`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'Bearer',
        'Bearer ',
        'Basic dXNlcjpwYXNz',
        'Bearer a.b.c',
        `Bearer ${'x'.repeat(8_000)}`,
      ),
    },
    {
      weight: 1,
      arbitrary: fc.string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        maxLength: 60,
      }),
    },
  );
  return fc
    .record({
      route,
      authorization: fc.option(authorization, { freq: 8, nil: undefined }),
      contentType: fc.oneof(
        { weight: 4, arbitrary: fc.constant('application/json') },
        { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
      body: fc.oneof({ weight: 1, arbitrary: speakable }, { weight: 2, arbitrary: hostileBody }),
    })
    .map(({ route, authorization, contentType, body }) => ({
      method: route.method,
      target: route.path,
      paramAt: route.paramAt,
      version: 'HTTP/1.1',
      headers: [
        `Host: 127.0.0.1:${target.port}`,
        ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
        `Content-Type: ${contentType}`,
      ],
      body: route.json ? body : Buffer.alloc(0),
    }));
}

/** Replaces the segment at `index` of a path (before any query). */
function replaceSegment(target: string, index: number, segment: string): string {
  const [path, query] = target.split('?');
  const segments = path!.split('/');
  segments[Math.min(index, segments.length - 1)] = segment;
  return segments.join('/') + (query === undefined ? '' : `?${query}`);
}

/** A route parameter's segment where the route has one (else any segment: then no route matches). */
function pickSegment(parts: Parts, n: number): number {
  return parts.paramAt.length > 0 ? parts.paramAt[n % parts.paramAt.length]! : 1 + (n % 3);
}

/** Each kind spoils one thing of a valid request; `mixed` spoils several at random. */
function spoiled(target: HostileTarget): fc.Arbitrary<{ kind: string; parts: Parts }> {
  const valid = validParts(target);
  const withHost = (parts: Parts, ...hosts: string[]) => ({
    ...parts,
    headers: [...hosts.map((h) => `Host: ${h}`), ...parts.headers.filter((h) => !h.startsWith('Host:'))],
  });
  const kinds: Record<string, fc.Arbitrary<Parts>> = {
    'valid request, hostile body': valid,
    'bad escape in a path id': fc
      .tuple(valid, fc.constantFrom(...BAD_ESCAPES), fc.nat())
      .map(([p, escape, n]) => ({ ...p, target: replaceSegment(p.target, pickSegment(p, n), escape) })),
    'odd path id': fc
      .tuple(valid, fc.constantFrom(...ODD_SEGMENTS), fc.nat())
      .map(([p, odd, n]) => ({ ...p, target: replaceSegment(p.target, pickSegment(p, n), odd) })),
    'bad or odd Host': fc.tuple(valid, fc.constantFrom(...BAD_HOSTS)).map(([p, host]) => withHost(p, host)),
    'no Host, or two': fc
      .tuple(valid, fc.constantFrom(0, 2))
      .map(([p, count]) =>
        count === 0
          ? { ...p, headers: p.headers.filter((h) => !h.startsWith('Host:')) }
          : withHost(p, 'localhost', 'other'),
      ),
    'credentials in the URL': fc
      .tuple(valid, fc.constantFrom(...CREDENTIALS), fc.boolean())
      .map(([p, authority, inTarget]) =>
        inTarget ? { ...p, target: `http://${authority}${p.target}` } : withHost(p, authority),
      ),
    'absolute-form target': fc
      .tuple(
        valid,
        fc.constantFrom(
          'http://localhost',
          'https://x.example:443',
          'HTTP://127.0.0.1',
          'ftp://x',
          'http://[::1]:1',
          'javascript:',
        ),
      )
      .map(([p, origin]) => ({ ...p, target: `${origin}${p.target}` })),
    'odd request target': fc.tuple(valid, fc.constantFrom(...ODD_TARGETS)).map(([p, odd]) => ({ ...p, target: odd })),
    'OPTIONS *': valid.map((p) => ({ ...p, method: 'OPTIONS', target: '*', body: Buffer.alloc(0) })),
    'bad method': fc
      .tuple(valid, fc.constantFrom(...BAD_METHODS, 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'DELETE', 'GET'))
      .map(([p, method]) => ({ ...p, method })),
    'bad version': fc.tuple(valid, fc.constantFrom(...BAD_VERSIONS)).map(([p, version]) => ({ ...p, version })),
    'odd header values': fc
      .tuple(
        valid,
        fc.array(
          fc.constantFrom(
            'X-Odd: \x80\xff\xe9',
            'X-Empty:',
            'Origin: http://localhost:5173',
            'Origin: null',
            'Access-Control-Request-Method: POST',
            'Access-Control-Request-Headers: \xff',
            'Expect: 100-continue',
            'Expect: something-else',
            'Upgrade: websocket',
            'Connection: Upgrade',
            'Content-Length: abc',
            'Content-Length: -1',
            'Transfer-Encoding: gzip',
            'Transfer-Encoding: chunked',
            'Bad Header: x',
            'X-Fold: a\r\n b',
            'X-Nul: a\x00b',
            'X-Ms-Client-Principal: %%%',
            '__proto__: x',
            'constructor: x',
            'Authorization: Bearer one',
            'Cookie: a=b; a=c',
            ':authority: x',
          ),
          { minLength: 1, maxLength: 4 },
        ),
      )
      .map(([p, extra]) => ({ ...p, headers: [...p.headers, ...extra] })),
    'large headers (8–40 KB)': fc
      .tuple(valid, fc.integer({ min: 8_000, max: 40_000 }), fc.boolean())
      .map(([p, size, many]) => ({
        ...p,
        headers: [
          ...p.headers,
          ...(many
            ? Array.from({ length: Math.floor(size / 100) }, (_, i) => `X-H${i}: ${'v'.repeat(90)}`)
            : [`X-Big: ${'v'.repeat(size)}`]),
        ],
      })),
    'broken chunked body': fc
      .tuple(
        valid,
        fc.constantFrom(
          'zz\r\nab\r\n0\r\n\r\n',
          '2\r\nabc\r\n0\r\n\r\n',
          `3;${'e'.repeat(20_000)}\r\nabc\r\n0\r\n\r\n`,
          '-1\r\n\r\n',
          '2\r\nab\r\n0\r\nX-Trailer: \x80\r\n\r\n',
        ),
      )
      .map(([p, chunked]): Parts => ({
        ...p,
        headers: [...p.headers, 'Transfer-Encoding: chunked'],
        body: Buffer.from(chunked, 'latin1'),
        chunked: true,
      })),
    mixed: fc
      .record({
        p: valid,
        host: fc.constantFrom(undefined, ...BAD_HOSTS, ...CREDENTIALS),
        escape: fc.option(fc.constantFrom(...BAD_ESCAPES, ...ODD_SEGMENTS)),
        at: fc.integer({ min: 1, max: 6 }),
        method: fc.constantFrom(undefined, 'GET', 'POST', 'DELETE', ...BAD_METHODS),
      })
      .map(({ p, host, escape, at, method }) => {
        const parts = host === undefined ? p : withHost(p, host);
        return {
          ...parts,
          method: method ?? parts.method,
          target: escape === null ? parts.target : replaceSegment(parts.target, at, escape),
        };
      }),
  };
  return fc.oneof(
    ...Object.entries(kinds).map(([kind, parts]) => ({
      weight: kind === 'valid request, hostile body' ? 6 : kind === 'mixed' ? 3 : 1,
      arbitrary: parts.map((p) => ({ kind, parts: p })),
    })),
  );
}

/**
 * A yearly schedule about 200 days from `now`: further than one Node timer can wait, and never
 * due while a run lasts, so any run of it during one is a scheduler fault.
 */
export function farSchedule(now: Date): string {
  const at = new Date(now.getTime() + 200 * 86_400_000);
  return `0 0 0 ${at.getUTCDate()} ${at.getUTCMonth() + 1} *`;
}

/** `count` hostile requests, the same ones for the same seed. */
export function sampleHostileRequests(target: HostileTarget, count: number, seed: number): HostileRequest[] {
  return fc
    .sample(spoiled(target), { numRuns: count, seed })
    .map(({ kind, parts }) => ({ kind, method: parts.method, bytes: serialize(parts) }));
}

function serialize({ method, target, version, headers, body, chunked }: Parts): Buffer {
  const inChunks = headers.some((h) => /^transfer-encoding:\s*chunked/i.test(h));
  // Every request closes its connection (one request, one answer) and is whole: a body shorter
  // than announced would only leave the host waiting for the rest.
  const lines = [
    `${method} ${target} ${version}`.trimEnd(),
    ...headers,
    ...(inChunks ? [] : [`Content-Length: ${body.length}`]),
    'Connection: close',
  ];
  const payload =
    !inChunks || chunked
      ? body
      : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

/**
 * Sends the bytes on a new connection and reads the first final answer (a `100 Continue` is
 * skipped); `undefined` when the host closes the connection without one.
 */
export function sendRaw(
  port: number,
  { method, bytes }: Pick<HostileRequest, 'method' | 'bytes'>,
  timeoutMs = 30_000,
): Promise<RawAnswer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const done = (answer: RawAnswer | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms to ${bytes.subarray(0, 80).toString('latin1')}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = parseAnswer(received, { head: method === 'HEAD' });
      if (answer) done(answer);
    });
    // The host may close while the rest of a refused request is still being written (EPIPE,
    // ECONNRESET): what it answered before that is what counts.
    socket.on('error', () => done(parseAnswer(received, { head: method === 'HEAD', ended: true })));
    socket.on('end', () => done(parseAnswer(received, { head: method === 'HEAD', ended: true })));
  });
}

/** The first final response in `bytes`, once it is complete (or, `ended`, whatever came). */
function parseAnswer(
  bytes: Buffer,
  { head = false, ended = false }: { head?: boolean; ended?: boolean },
): RawAnswer | undefined {
  let start = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', start);
    if (headEnd < 0) return undefined;
    const [statusLine, ...lines] = bytes.subarray(start, headEnd).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
    if (!status) return undefined;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart;
      continue;
    }
    if (status === 204 || status === 304 || head) return { status, headers, body: Buffer.alloc(0) };
    if (headers['content-length'] !== undefined) {
      const end = bodyStart + Number(headers['content-length']);
      return bytes.length >= end || ended ? { status, headers, body: bytes.subarray(bodyStart, end) } : undefined;
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const body = dechunk(bytes.subarray(bodyStart));
      return body || ended ? { status, headers, body: body ?? Buffer.alloc(0) } : undefined;
    }
    return ended ? { status, headers, body: bytes.subarray(bodyStart) } : undefined;
  }
}

function dechunk(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(parts);
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * What is wrong with an answer, if anything: none at all, a 5xx, or an error that is not
 * problem details whose `status` is the answer's. The one exception is 405, which carries
 * `Allow` and no body, as the Functions host's own does.
 */
export function violationOf(answer: RawAnswer | undefined, method?: string): string | undefined {
  if (!answer) return 'closed without an answer';
  if (answer.status >= 500) return `${answer.status}`;
  if (answer.status === 405) return answer.headers.allow ? undefined : '405 without Allow';
  if (answer.status < 400 || method === 'HEAD') return undefined;
  if (answer.headers['content-type'] !== 'application/problem+json')
    return `${answer.status} as ${answer.headers['content-type'] ?? 'no content type'}`;
  try {
    const problem = JSON.parse(answer.body.toString()) as { type?: unknown; status?: unknown; title?: unknown };
    if (
      problem.status !== answer.status ||
      typeof problem.title !== 'string' ||
      !/^https:\/\/khipu\.studio\/problems\/[a-z-]+$/.test(String(problem.type))
    ) {
      return `${answer.status} with problem ${answer.body.toString().slice(0, 120)}`;
    }
  } catch {
    return `${answer.status} with a body that is not JSON`;
  }
  return undefined;
}
