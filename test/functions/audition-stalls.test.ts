import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createServices, type BuiltServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createHealthHandler } from '../../src/handlers/health-handler.ts';
import { signAccessToken } from '../../tools/dev/access-token.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { startTcpProxy, type TcpProxy } from '../../tools/local-services/tcp-proxy.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testSettings } from '../support/test-services.ts';

// A dependency that hangs (accepts the connection, never answers) is failed like one that
// refuses: each stall here is real, a TCP proxy in front of the real Azurite, Postgres or speech
// stand-in that stops forwarding, and every answer below arrives while it is still stopped
// (the test resumes it only afterwards), so no answer can be waiting for the stall to end.

const line = (text = `Se cuelga ${randomBytes(4).toString('hex')}`) => ({ voice: 'es-AR-ElenaNeural', text });

/** The suite's Azurite, reached through `proxy`. */
function blobsThrough(proxy: TcpProxy): string {
  return inject('azuriteConnectionString').replace(
    /BlobEndpoint=http:\/\/127\.0\.0\.1:\d+\//,
    `BlobEndpoint=http://127.0.0.1:${proxy.port}/`,
  );
}

/** The test database, reached through `proxy`. */
function databaseThrough(database: TestDatabase, proxy: TcpProxy): string {
  const url = new URL(database.url);
  url.host = `127.0.0.1:${proxy.port}`;
  return url.toString();
}

function portOf(url: string): number {
  return Number(new URL(url.replace(/^postgres(ql)?:/, 'http:')).port);
}

async function call(services: BuiltServices, account: TestAccount, body: object, token?: string) {
  const started = performance.now();
  const { response, logs } = await invokeHttp(
    createAuditionHandler(() => services),
    {
      url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
      headers: { authorization: `Bearer ${token ?? (await account.token())}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      params: { projectId: account.projectId },
    },
  );
  const bytes = await response.arrayBuffer().then(
    (buffer) => Buffer.from(buffer),
    () => undefined, // cut off midway
  );
  return {
    status: response.status,
    cache: response.headers.get('x-cache-status'),
    retryAfter: response.headers.get('retry-after'),
    bytes,
    logs: logs.join('\n'),
    ms: performance.now() - started,
  };
}

async function health(services: BuiltServices) {
  const { response } = await invokeHttp(
    createHealthHandler(() => services),
    { method: 'GET', url: 'http://localhost/api/health' },
  );
  return { status: response.status, body: await response.json() };
}

let standIn: SpeechStandIn;
let tone: Buffer;
let database: TestDatabase;
const proxies: TcpProxy[] = [];
const open: BuiltServices[] = [];
beforeAll(async () => {
  tone = await encodeToneMp3(3); // several 4 KB chunks
  standIn = await startSpeechStandIn(tone);
  database = await createTestDatabase();
});
afterEach(async () => {
  standIn.behave({ kind: 'audio' });
  for (const proxy of proxies) proxy.resume();
  await Promise.all(open.splice(0).map((services) => services.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});
afterAll(async () => {
  await standIn.stop();
  await database.drop();
});

async function proxy(port: number): Promise<TcpProxy> {
  const started = await startTcpProxy({ host: '127.0.0.1', port });
  proxies.push(started);
  return started;
}

function services(overrides: NodeJS.ProcessEnv): BuiltServices {
  const built = createServices(
    parseConfig(
      testSettings(overrides.DATABASE_URL ?? database.url, {
        AZURE_SPEECH_HOST: standIn.host,
        MEMORY_CACHE_MB: '0', // every hit reads Postgres and Blob Storage
        BLOB_READ_TIMEOUT_SECONDS: '0.5',
        BLOB_WRITE_TIMEOUT_SECONDS: '1',
        DATABASE_TIMEOUT_SECONDS: '1',
        ...overrides,
      }),
    ),
  );
  open.push(built);
  return built;
}

describe('Blob Storage that hangs', () => {
  it('answers a cold hit uncached (BYPASS) within the read deadline, stores nothing, logs once, and recovers by itself', async () => {
    const blobs = await proxy(
      Number(/BlobEndpoint=http:\/\/127\.0\.0\.1:(\d+)/.exec(inject('azuriteConnectionString'))![1]),
    );
    const app = services({ AZURE_STORAGE_CONNECTION_STRING: blobsThrough(blobs) });
    const account = await createTestAccount(await app.db.client(), app.config.jwt.secretKey);
    const stored = line();
    expect((await call(app, account, stored)).cache).toBe('MISS');
    await app.auditions.drain();
    expect((await call(app, account, stored)).cache).toBe('HIT-L2');

    blobs.pause();
    const first = await call(app, account, stored);
    expect(first).toMatchObject({ status: 200, cache: 'BYPASS' });
    expect(first.bytes!.equals(tone)).toBe(true);
    expect(first.logs).toMatch(
      /warning: audition cache: blob read failed, answering uncached: DeadlineExceededError: Blob Storage did not send/,
    );
    // The next ones do not wait out a deadline of their own, and are not logged again.
    const second = await call(app, account, stored);
    expect(second).toMatchObject({ status: 200, cache: 'BYPASS' });
    expect(second.logs).not.toMatch(/warning/);
    // A new line is synthesized and answered; its upload is abandoned: no row, no blob.
    const fresh = line();
    const miss = await call(app, account, fresh);
    expect(miss.status).toBe(200);
    expect(miss.bytes!.equals(tone)).toBe(true);
    await app.auditions.drain();
    expect(await (await app.db.client()).audioCache.count({ where: { text: fresh.text } })).toBe(0);
    console.log(
      `blob stall: first cold hit ${first.ms.toFixed(0)} ms, second ${second.ms.toFixed(0)} ms (read deadline 500 ms)`,
    );
    expect(await health(app)).toEqual({
      status: 503,
      body: { status: 'unavailable', checks: { database: 'ok', blobStorage: 'failed', projectStorage: 'ok' } },
    });

    blobs.resume();
    // The next probe (at most one per second) finds it answering again: hits are hits again.
    let recovered = '';
    await vi.waitFor(
      async () => {
        const again = await call(app, account, stored);
        recovered += again.logs;
        expect(again.cache).toBe('HIT-L2');
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(recovered).toMatch(/information: Blob Storage answers again after [\d.]+ s of failures/);
    expect((await health(app)).status).toBe(200);
  });
});

describe("A project's own storage account that hangs", () => {
  it('answers that project uncached within the read deadline, leaves the others hitting, and recovers by itself', async () => {
    const project = inject('azuriteProjectAccount');
    const hung = await proxy(Number(new URL(project.endpoint).port));
    const app = services({});
    const owner = await createTestAccount(await app.db.client(), app.config.jwt.secretKey);
    const container = `hang-${randomBytes(4).toString('hex')}`;
    const credential = new StorageSharedKeyCredential(project.accountName, project.accessKey);
    await new BlobServiceClient(project.endpoint, credential).getContainerClient(container).create();
    const { accountName, accessKey } = project;
    const endpoint = `http://127.0.0.1:${hung.port}/${accountName}`; // the account, through the proxy
    const ownAccount = {
      ...owner,
      projectId: await createTestProject(await app.db.client(), owner, {
        creds: {
          tts: { azure: { key: 'project-key', region: 'eastus' } },
          storage: { azure: { accountName, accessKey, containerName: container, endpoint } },
        },
      }),
    };
    const stored = line();
    const other = line();
    for (const [who, body] of [
      [ownAccount, stored],
      [owner, other],
    ] as const) {
      expect((await call(app, who, body)).cache).toBe('MISS');
      await app.auditions.drain();
      expect((await call(app, who, body)).cache).toBe('HIT-L2');
    }

    hung.pause();
    const first = await call(app, ownAccount, stored);
    expect(first).toMatchObject({ status: 200, cache: 'BYPASS' });
    expect(first.bytes!.equals(tone)).toBe(true);
    expect(first.logs).toMatch(
      new RegExp(`blob read failed, answering uncached \\(project ${ownAccount.projectId}\\)`),
    );
    expect(first.logs).not.toContain(accessKey);
    // Everyone else is untouched: the operator's account answers, and health stays 200, saying which is degraded.
    expect((await call(app, owner, other)).cache).toBe('HIT-L2');
    expect(await health(app)).toEqual({
      status: 200,
      body: {
        status: 'ok',
        checks: { database: 'ok', blobStorage: 'ok', projectStorage: 'degraded' },
        failingProjectAccounts: 1,
      },
    });
    console.log(
      `project account stall: cold hit answered uncached in ${first.ms.toFixed(0)} ms (read deadline 500 ms)`,
    );

    hung.resume();
    await vi.waitFor(async () => expect((await call(app, ownAccount, stored)).cache).toBe('HIT-L2'), {
      timeout: 15_000,
      interval: 100,
    });
    expect(await health(app)).toMatchObject({ status: 200, body: { checks: { projectStorage: 'ok' } } });
  });
});

describe('Postgres that hangs', () => {
  it('answers a caller authorized moments ago uncached (BYPASS), refuses one it cannot check (503), and recovers by itself', async () => {
    const pg = await proxy(portOf(database.url));
    const app = services({ DATABASE_URL: databaseThrough(database, pg), AUTH_CACHE_SECONDS: '60' });
    const account = await createTestAccount(await app.db.client(), app.config.jwt.secretKey);
    const stored = line();
    expect((await call(app, account, stored)).cache).toBe('MISS');
    await app.auditions.drain();
    expect((await call(app, account, stored)).cache).toBe('HIT-L2');

    pg.pause();
    const first = await call(app, account, stored);
    expect(first).toMatchObject({ status: 200, cache: 'BYPASS' });
    expect(first.bytes!.equals(tone)).toBe(true);
    expect(first.logs).toMatch(/warning: audition cache: index lookup failed, answering uncached/);
    const second = await call(app, account, line());
    expect(second).toMatchObject({ status: 200, cache: 'BYPASS' });
    // Authorization fails closed: someone not checked recently is refused, not let through.
    const stranger = await signAccessToken(app.config.jwt, { userId: crypto.randomUUID(), expiresIn: '10m' });
    const refused = await call(app, account, line(), stranger);
    expect(refused).toMatchObject({ status: 503, retryAfter: '5' });
    console.log(
      `database stall: cold hit ${first.ms.toFixed(0)} ms, new line ${second.ms.toFixed(0)} ms, unknown caller ${refused.ms.toFixed(0)} ms (deadline 1000 ms)`,
    );
    expect(await health(app)).toEqual({
      status: 503,
      body: { status: 'unavailable', checks: { database: 'failed', blobStorage: 'ok', projectStorage: 'ok' } },
    });

    pg.resume();
    await vi.waitFor(async () => expect((await call(app, account, stored)).cache).toBe('HIT-L2'), {
      timeout: 15_000,
      interval: 100,
    });
    expect((await call(app, account, line(), stranger)).status).toBe(401); // checked again: an unknown user
    expect((await health(app)).status).toBe(200);
  });
});

describe('a speech service that hangs', () => {
  const speech = () =>
    services({
      TTS_CONNECT_TIMEOUT_SECONDS: '1',
      TTS_FIRST_AUDIO_TIMEOUT_SECONDS: '1',
      TTS_CHUNK_TIMEOUT_SECONDS: '0.5',
    });

  it('cuts off a miss whose audio stops midway within the chunk deadline, and caches nothing', async () => {
    const app = speech();
    const account = await createTestAccount(await app.db.client(), app.config.jwt.secretKey);
    standIn.behave({ kind: 'audio', stallAfterChunks: 1 });
    const body = line();
    const cut = await call(app, account, body);
    expect(cut).toMatchObject({ status: 200, cache: 'MISS', bytes: undefined }); // the body broke off
    await app.auditions.drain();
    expect(cut.logs).toMatch(
      /audition: synthesis failed after streaming began, response cut off: .*stopped sending audio for 500 ms midway/,
    );
    expect(await (await app.db.client()).audioCache.count({ where: { text: body.text } })).toBe(0);
    standIn.behave({ kind: 'audio' });
    expect((await call(app, account, body)).cache).toBe('MISS'); // nothing was kept of it
  });

  it('answers 504 with Retry-After when no audio comes, or the connection never opens', async () => {
    const app = speech();
    const account = await createTestAccount(await app.db.client(), app.config.jwt.secretKey);
    for (const kind of ['hang', 'stall-upgrade'] as const) {
      standIn.behave({ kind });
      const timedOut = await call(app, account, line());
      expect(timedOut, kind).toMatchObject({ status: 504, retryAfter: '5' });
      console.log(`speech ${kind}: 504 after ${timedOut.ms.toFixed(0)} ms (deadline 1000 ms)`);
    }
    standIn.behave({ kind: 'audio' });
    expect((await call(app, account, line())).cache).toBe('MISS');
  });
});

describe('two instances when storage and then the database hang', () => {
  let workDir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-stalls-'));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(workDir, { recursive: true, force: true });
  });

  it('both answer every audition (BYPASS) while either hangs, and both recover by themselves', async () => {
    const blobs = await proxy(
      Number(/BlobEndpoint=http:\/\/127\.0\.0\.1:(\d+)/.exec(inject('azuriteConnectionString'))![1]),
    );
    const pg = await proxy(portOf(database.url));
    const seed = services({});
    const account = await createTestAccount(await seed.db.client(), seed.config.jwt.secretKey);
    const env = hostEnvironment(
      { database: { ...database, url: databaseThrough(database, pg) }, config: seed.config },
      {
        AZURE_STORAGE_CONNECTION_STRING: blobsThrough(blobs),
        AZURE_SPEECH_HOST: standIn.host,
        MEMORY_CACHE_MB: '0',
        BLOB_READ_TIMEOUT_SECONDS: '0.5',
        BLOB_WRITE_TIMEOUT_SECONDS: '1',
        DATABASE_TIMEOUT_SECONDS: '1',
        AUTH_CACHE_SECONDS: '60',
      },
    );
    const bases = await Promise.all(
      [0, 1].map(async () => {
        const port = await findFreePort();
        const { process: child } = await startServeProcess({ ...env, PORT: String(port) }, workDir);
        children.push(child);
        return `http://127.0.0.1:${port}/api`;
      }),
    );
    const token = await account.token();
    const audition = async (base: string, text: string) => {
      const response = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
      });
      const bytes = Buffer.from(await response.arrayBuffer());
      return { status: response.status, cache: response.headers.get('x-cache-status'), same: bytes.equals(tone) };
    };
    const stored = line().text;
    expect((await audition(bases[0]!, stored)).cache).toBe('MISS');
    await vi.waitFor(async () => expect((await audition(bases[1]!, stored)).cache).toBe('HIT-L2'), { timeout: 10_000 });

    for (const [name, hung] of [
      ['Blob Storage', blobs],
      ['the database', pg],
    ] as const) {
      hung.pause();
      // Both instances, four cold hits each at once, all while it hangs.
      const answers = await Promise.all(
        bases.flatMap((base) => Array.from({ length: 4 }, () => audition(base, stored))),
      );
      expect(answers, name).toEqual(answers.map(() => ({ status: 200, cache: 'BYPASS', same: true })));
      hung.resume();
      for (const base of bases) {
        await vi.waitFor(async () => expect((await audition(base, stored)).cache, name).toBe('HIT-L2'), {
          timeout: 15_000,
          interval: 100,
        });
      }
    }
  });
});
