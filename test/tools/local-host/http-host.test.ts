import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  farSchedule,
  sampleHostileRequests,
  sendRaw,
  violationOf,
  type RawAnswer,
} from '../../../tools/bench/hostile-http.ts';
import { createLocalHost } from '../../../tools/local-host/http-host.ts';
import { findFreePort } from '../../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../../support/serve-process.ts';
import { createTestServices, type TestServices } from '../../support/test-services.ts';
import { root } from '../../support/repo.ts';

/**
 * The local host's own edges, over raw HTTP (fetch and undici will not send a malformed Host,
 * a bad escape or a broken request line): whatever arrives, a 4xx problem+json or a
 * function's answer, never a 5xx — the same generator as `npm run fuzz:host`, fewer requests.
 */
describe('the local host under hostile raw HTTP', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let other: TestAccount;
  let host: ChildProcess;
  let output: () => string;
  let port: number;
  let listeningAt: number;
  let workDir: string;
  let isProblem: (body: unknown) => boolean;

  beforeAll(async () => {
    const doc = parse(await readFile(path.join(root, 'openapi.yaml'), 'utf8'));
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema(doc, 'openapi');
    isProblem = ajv.compile({ $ref: 'openapi#/components/schemas/Problem' });
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    services = await createTestServices();
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    other = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    port = await findFreePort();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-hostile-host-'));
    const started = await startServeProcess(
      // The cleanup's next run months away: further than one Node timer can wait.
      hostEnvironment(services, {
        AZURE_SPEECH_HOST: standIn.host,
        PORT: String(port),
        CACHE_CLEANUP_SCHEDULE: farSchedule(new Date()),
      }),
      workDir,
    );
    listeningAt = performance.now();
    host = started.process;
    output = started.output;
  });

  afterAll(async () => {
    if (host && host.exitCode === null) host.kill('SIGKILL');
    await services.dispose();
    await standIn.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  const send = (head: string, method = head.split(' ')[0]!) =>
    sendRaw(port, {
      method,
      bytes: Buffer.from(`${head.replaceAll('{port}', String(port))}\r\nConnection: close\r\n\r\n`, 'latin1'),
    });
  const problemOf = (answer: RawAnswer | undefined) => {
    expect(answer, 'an answer').toBeDefined();
    expect(violationOf(answer)).toBeUndefined();
    const problem = JSON.parse(answer!.body.toString());
    expect(isProblem(problem), JSON.stringify(problem)).toBe(true);
    return { status: answer!.status, fields: (problem.errors ?? []).map((e: { field: string }) => e.field) };
  };

  it('answers a malformed percent-escape in a path id with 400 naming the id, and an unknown path with 404', async () => {
    const audition = (id: string) =>
      `POST /api/v1/projects/${id}/characters/audition HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 0`;
    for (const id of ['%ZZ', '%E0%A4%A', '%C0%AF', '%ED%A0%80', '%']) {
      expect(problemOf(await send(audition(id))), id).toEqual({ status: 400, fields: ['projectId'] });
    }
    const voices = `POST /api/v1/projects/${account.projectId}/voices/%ZZ/audition HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 0`;
    expect(problemOf(await send(voices))).toEqual({ status: 400, fields: ['voiceId'] });
    expect(
      problemOf(await send('POST /admin/functions/%C0%AF HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0')),
    ).toEqual({ status: 400, fields: ['name'] });
    // Where no route matches, the escape is never decoded: no function there.
    expect(problemOf(await send('GET /api/nothing/%ZZ HTTP/1.1\r\nHost: localhost'))).toEqual({
      status: 404,
      fields: [],
    });
    expect(
      problemOf(await send('POST /admin/functions/nothing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0')),
    ).toEqual({ status: 404, fields: [] });
    // A well-formed escape still reaches the function decoded: a project id that is no UUID is its 404.
    const decoded = await send(
      `POST /api/v1/projects/%41%42/voices/es-AR-ElenaNeural/audition HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nAuthorization: Bearer ${await account.token()}`,
    );
    expect(problemOf(decoded)).toEqual({ status: 404, fields: [] });
  });

  it('answers a Host it cannot read, none, two, or one with credentials with 400 naming Host', async () => {
    for (const bad of ['a b', '[', '%zz', 'user:pass@x', 'x/y', 'x:99999', '', '\xe9']) {
      expect(problemOf(await send(`GET /api/health HTTP/1.1\r\nHost: ${bad}`)), bad).toEqual({
        status: 400,
        fields: ['Host'],
      });
    }
    expect(problemOf(await send('GET /api/health HTTP/1.1'))).toEqual({ status: 400, fields: ['Host'] });
    expect(problemOf(await send('GET /api/health HTTP/1.1\r\nHost: localhost\r\nHost: other'))).toEqual({
      status: 400,
      fields: ['Host'],
    });
    // HTTP/1.0 may leave Host out.
    expect((await send('GET /api/health HTTP/1.0'))?.status).toBe(200);
  });

  it('reads absolute-form and asterisk-form targets as RFC 9112 says, and refuses credentials in them', async () => {
    expect((await send('GET http://localhost:{port}/api/health HTTP/1.1\r\nHost: localhost:{port}'))?.status).toBe(200);
    const credentials = await send('GET http://user:pass@localhost/api/health HTTP/1.1\r\nHost: localhost');
    expect(problemOf(credentials)).toEqual({ status: 400, fields: ['(request target)'] });
    expect(problemOf(await send('GET ftp://localhost/api/health HTTP/1.1\r\nHost: localhost'))).toEqual({
      status: 400,
      fields: ['(request target)'],
    });
    expect(problemOf(await send('GET * HTTP/1.1\r\nHost: localhost'))).toEqual({
      status: 400,
      fields: ['(request target)'],
    });
    // `//x/…` is a path here, not another host.
    expect(problemOf(await send('GET //localhost/api/health HTTP/1.1\r\nHost: localhost'))).toEqual({
      status: 404,
      fields: [],
    });
    const options = await send('OPTIONS * HTTP/1.1\r\nHost: localhost');
    expect(options?.status).toBe(204);
    expect(options?.headers.allow).toContain('POST');
  });

  it('answers what Node’s HTTP parser refuses as 400 problem+json too, and CONNECT with 405', async () => {
    const huge = await send(`GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'v'.repeat(20_000)}`);
    expect(problemOf(huge)).toEqual({ status: 400, fields: ['(headers)'] });
    expect(problemOf(await send('FOO /api/health HTTP/1.1\r\nHost: localhost'))).toEqual({ status: 400, fields: [] });
    expect(problemOf(await send('GET /api/health HTTP/1.1\r\nHost: localhost\r\nBad Header: x'))).toEqual({
      status: 400,
      fields: [],
    });
    const connect = await send('CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443');
    expect([connect?.status, connect?.headers.allow]).toEqual([405, expect.stringContaining('POST')]);
    // An expectation other than 100-continue is ignored, as the Functions host's server does.
    expect((await send('GET /api/health HTTP/1.1\r\nHost: localhost\r\nExpect: something-else'))?.status).toBe(200);
  });

  it('answers 300 generated hostile requests with no 5xx, every error as problem+json, and logs no error', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const requests = sampleHostileRequests(
      { port, projectId: account.projectId, tokens: [await account.token(), await other.token()] },
      300,
      seed,
    );
    const statuses = new Map<string, number>();
    const violations: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        const answer = await sendRaw(port, request);
        const status = answer ? String(answer.status) : 'no answer';
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        const violation = violationOf(answer, request.method);
        if (violation)
          violations.push(
            `${violation}: ${request.kind}: ${JSON.stringify(request.bytes.subarray(0, 160).toString('latin1'))}`,
          );
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    console.log(`seed ${seed} (FUZZ_SEED replays it):`, Object.fromEntries([...statuses].sort()));
    expect(violations, `seed ${seed}`).toEqual([]);
    expect([...statuses.keys()].filter((s) => s.startsWith('4')).length).toBeGreaterThan(3); // the requests were refused for many reasons
    expect(statuses.get('200')).toBeGreaterThan(0); // and some got through to the functions
    expect(output()).not.toMatch(/Unhandled error|error: local host/);
  }, 120_000);

  it('leaves a timer whose next run is months away waiting: no overflow warning, no run', async () => {
    // Timers are armed a second after the host listens; before, such a schedule ran at once, in a loop.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 3_000 - (performance.now() - listeningAt))));
    expect(output()).toMatch(/cleanup: timerTrigger \(0 0 0 \d+ \d+ \*;/);
    expect(output()).not.toMatch(/TimeoutOverflowWarning|Executing 'cleanup'/);
  });
});

describe('the local host when a function fails unexpectedly', () => {
  it('answers 500 problem+json without detail and logs the stack, as the app does for its own bugs', async () => {
    const lines: string[] = [];
    const server = createLocalHost({
      functions: [
        {
          trigger: 'http',
          name: 'broken',
          options: {
            methods: ['GET'],
            route: 'broken',
            handler: () => {
              throw new TypeError('a bug in the handler');
            },
          },
        },
      ],
      routePrefix: 'api',
      corsOrigins: [],
      corsCredentials: false,
      log: (line) => lines.push(line),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/broken`);
      expect([response.status, response.headers.get('content-type')]).toEqual([500, 'application/problem+json']);
      expect(await response.json()).toEqual({
        type: 'https://khipu.studio/problems/internal',
        title: 'Internal error',
        status: 500,
        detail: 'The service failed unexpectedly.',
      });
      expect(lines.join('\n')).toMatch(
        /^error: \[local-host\] Unhandled error: TypeError: a bug in the handler\n\s+at /m,
      );
    } finally {
      server.close();
    }
  });
});
