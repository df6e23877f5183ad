import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HttpRequest, HttpResponse, InvocationContext, type HttpRequestInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billableCharacters } from '../../src/audition/ssml.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createPrewarmHandler } from '../../src/handlers/prewarm-handler.ts';
import { createPurgeHandler } from '../../src/handlers/purge-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import {
  BLOB_NOT_FOUND,
  blobOf,
  startHostileStore,
  type HostileAnswer,
  type HostileStore,
} from '../../tools/local-services/hostile-store.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { noteProjectStore, seedEntry } from '../support/cache-entries.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// What one tenant's admin can make this service do with what it writes (projects.settings, request bodies), tried as
// an attacker would, against the real host (`npm run serve`, a child process) and through the functions (the
// handlers in this process), on real Postgres, Azurite and the Speech SDK. The stand-ins the tenant "runs" are
// loopback servers the test controls: a listener that counts connections, a storage account that answers anything.

const GB = 1024 ** 3;
const MB = 1024 ** 2;
/** What the host's memory may grow by while a tenant's store offers it a gigabyte (MAX_AUDITION_MB is 16). */
const RSS_BOUND = 96 * MB;
const VOICE = 'es-AR-ElenaNeural';
const DAY_MS = 86_400_000;

interface Answer {
  status: number;
  cache: string | null;
  contentType: string | null;
  bytes: number;
  json?: { type?: string; detail?: string; [key: string]: unknown };
}

/** One way of calling the service: its host over HTTP, or its functions' handlers in this process. */
interface Driver {
  audition(who: TestAccount, projectId: string, body: object): Promise<Answer>;
  prewarm(who: TestAccount, projectId: string, auditions: object[]): Promise<Answer>;
  stats(who: TestAccount): Promise<Answer>;
  purge(who: TestAccount): Promise<Answer>;
  cleanup(): Promise<void>;
  /** An audition whose body is chunked (no length), `totalBytes` long if all of it were read: what was read of it. */
  chunkedAudition(who: TestAccount, projectId: string, totalBytes: number): Promise<{ answer: Answer; sent: number }>;
  /** The serving process's resident memory now. */
  rss(): number;
}

/** A fetch Response, or the library's HttpResponse. */
interface AnyResponse {
  status: number;
  headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
}

async function answerOf(response: AnyResponse): Promise<Answer> {
  const body = Buffer.from(await response.arrayBuffer());
  const contentType = response.headers.get('content-type');
  return {
    status: response.status,
    cache: response.headers.get('x-cache-status'),
    contentType,
    bytes: body.length,
    json: contentType?.includes('json') ? (JSON.parse(body.toString('utf8')) as Answer['json']) : undefined,
  };
}

const auditionPath = (projectId: string) => `v1/projects/${projectId}/characters/audition`;

/** The handlers, called as the Functions host calls them (the library's real HttpRequest). */
function functionsDriver(services: TestServices): Driver {
  const handlers = {
    audition: createAuditionHandler(() => services),
    prewarm: createPrewarmHandler(() => services),
    stats: createStatsHandler(() => services),
    purge: createPurgeHandler(() => services),
  };
  const call = async (
    handler: keyof typeof handlers,
    who: TestAccount,
    request: { method: string; path: string; body?: object; params?: Record<string, string> },
  ) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await who.token()}` };
    if (request.body) headers['content-type'] = 'application/json';
    const { response } = await invokeHttp(handlers[handler], {
      method: request.method,
      url: `http://localhost/api/${request.path}`,
      headers,
      body: request.body && JSON.stringify(request.body),
      params: request.params,
    });
    const answer = await answerOf(response);
    await services.auditions.drain(); // a miss is stored after its answer
    return answer;
  };
  return {
    audition: (who, projectId, body) =>
      call('audition', who, { method: 'POST', path: auditionPath(projectId), body, params: { projectId } }),
    prewarm: (who, projectId, auditions) =>
      call('prewarm', who, {
        method: 'POST',
        path: `v1/projects/${projectId}/characters/auditions/prewarm`,
        body: { auditions },
        params: { projectId },
      }),
    stats: (who) => call('stats', who, { method: 'GET', path: 'v1/audio-cache/stats' }),
    purge: (who) => call('purge', who, { method: 'DELETE', path: 'v1/audio-cache' }),
    cleanup: async () => void (await services.cleanup.run({ info: () => {}, warn: () => {}, error: () => {} })),
    async chunkedAudition(who, projectId, totalBytes) {
      // A body the function pulls from, 64 KB at a time, as the Functions host streams one (enableHttpStream).
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= totalBytes) return controller.close();
          sent += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        },
      });
      const url = `http://localhost/api/${auditionPath(projectId)}`;
      const headers = { authorization: `Bearer ${await who.token()}`, 'content-type': 'application/json' };
      const nativeRequest = new Request(url, { method: 'POST', headers, body, duplex: 'half' });
      const request = new HttpRequest({
        method: 'POST',
        url,
        headers,
        params: { projectId },
        nativeRequest,
      } as HttpRequestInit);
      const context = new InvocationContext({ invocationId: 'chunked', functionName: 'audition' });
      const init = await handlers.audition(request, context);
      return { answer: await answerOf(new HttpResponse(init)), sent };
    },
    rss: () => process.memoryUsage().rss,
  };
}

/** The local host (`npm run serve`'s dist/tools/serve.js, serving the deployment package), over HTTP. */
function serveDriver(host: { base: string; process: ChildProcess; output(): string }): Driver {
  const call = async (who: TestAccount, method: string, route: string, body?: object) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${await who.token()}` };
    if (body) headers['Content-Type'] = 'application/json';
    return answerOf(
      await fetch(`${host.base}/${route}`, { method, headers, body: body ? JSON.stringify(body) : undefined }),
    );
  };
  return {
    audition: (who, projectId, body) => call(who, 'POST', auditionPath(projectId), body),
    prewarm: (who, projectId, auditions) =>
      call(who, 'POST', `v1/projects/${projectId}/characters/auditions/prewarm`, { auditions }),
    stats: (who) => call(who, 'GET', 'v1/audio-cache/stats'),
    purge: (who) => call(who, 'DELETE', 'v1/audio-cache'),
    async cleanup() {
      const passes = (host.output().match(/Deleted \d+ orphaned cache blobs/g) ?? []).length;
      const started = await fetch(`${host.base.replace(/\/api$/, '')}/admin/functions/cleanup`, { method: 'POST' });
      expect(started.status).toBe(202);
      await expect
        .poll(() => (host.output().match(/Deleted \d+ orphaned cache blobs/g) ?? []).length, { timeout: 20_000 })
        .toBeGreaterThan(passes);
    },
    async chunkedAudition(who, projectId, totalBytes) {
      // Raw HTTP/1.1 with Transfer-Encoding: chunked, written as fast as the host takes it, until it answers.
      const url = new URL(`${host.base}/${auditionPath(projectId)}`);
      const token = await who.token();
      return new Promise((resolve, reject) => {
        let sent = 0;
        let answered = false;
        const request = http.request(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        });
        request.on('response', (response) => {
          answered = true;
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const body = Buffer.concat(chunks);
            resolve({
              answer: {
                status: response.statusCode ?? 0,
                cache: null,
                contentType: response.headers['content-type'] ?? null,
                bytes: body.length,
                json: JSON.parse(body.toString('utf8')) as Answer['json'],
              },
              sent,
            });
            request.destroy();
          });
        });
        request.on('error', (error) => (answered ? undefined : reject(error)));
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const write = () => {
          while (!answered && sent < totalBytes) {
            sent += chunk.length;
            if (!request.write(chunk)) return void request.once('drain', write);
          }
          if (!answered) request.end();
        };
        write();
      });
    },
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${host.process.pid}/status`, 'utf8'))![1]) * 1024,
  };
}

/** A serve process on these services and settings, stopped with the suite. */
async function startHost(services: TestServices, extra: NodeJS.ProcessEnv) {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-hostile-'));
  const port = await findFreePort();
  const served = await startServeProcess(hostEnvironment(services, { PORT: String(port), ...extra }), workDir);
  return {
    base: `http://127.0.0.1:${port}/api`,
    process: served.process,
    output: served.output,
    async stop() {
      const host: ChildProcess = served.process;
      if (host.exitCode === null && host.signalCode === null) {
        const exited = new Promise((resolve) => host.once('exit', resolve));
        host.kill('SIGINT');
        await exited;
      }
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** A TCP listener on loopback that counts who connects to it (and answers nothing). */
async function startListener() {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const storageSettings = (endpoint: string, accountName = 'hostile') => ({
  creds: { storage: { azure: { accountName, accessKey: randomBytes(64).toString('base64'), endpoint } } },
});

/** Driver names, and how each is made once its suite's beforeAll has run. */
type Drivers = Record<'functions' | 'serve', () => Driver>;

describe('a tenant who points our requests at its own listeners (the deployed rule)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let host: Awaited<ReturnType<typeof startHost>>;
  let listener: Awaited<ReturnType<typeof startListener>>;
  const drivers: Drivers = {
    functions: () => functionsDriver(services),
    serve: () => serveDriver(host),
  };

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    listener = await startListener();
    const rule = { PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: 'false', AZURE_SPEECH_HOST: standIn.host };
    services = await createTestServices({ ...rule, AUTH_CACHE_SECONDS: '0', MEMORY_CACHE_MB: '0' });
    host = await startHost(services, { ...rule, AUTH_CACHE_SECONDS: '0', MEMORY_CACHE_MB: '0' });
  });
  afterAll(async () => {
    await host?.stop();
    await services?.dispose();
    await standIn?.stop();
    await listener?.close();
  });

  describe.each(Object.keys(drivers) as (keyof Drivers)[])('%s', (name) => {
    it('sends nothing to a project endpoint on loopback, by audition, prewarm, stats, purge or cleanup', async () => {
      const driver = drivers[name]();
      const admin = await createTestAccount(services.prisma, services.config.jwt.secretKey, { role: 'admin' });
      const endpoints = [
        `http://127.0.0.1:${listener.port}/hostile`,
        `https://127.0.0.1:${listener.port}`,
        `http://[::1]:${listener.port}/hostile`,
        `http://localhost:${listener.port}/hostile`,
        'http://169.254.169.254/metadata/identity',
      ];
      for (const endpoint of endpoints) {
        const projectId = await createTestProject(services.prisma, admin, {
          ...storageSettings(endpoint),
          azure_tts_key: 'project-key',
          azure_tts_region: 'eastus',
        });
        // An entry recorded there (as an older, looser rule could have left one), expired: the cleanup's to delete.
        const { cacheKey } = await seedEntry(services, admin.tenantId, {
          blob: false,
          expiresAt: new Date(services.now().getTime() - DAY_MS),
        });
        const storeId = `${endpoint.replace(/\/+$/, '')}/audios`;
        await noteProjectStore(services.prisma, admin.tenantId, cacheKey, { storeId, projectId }, services.now());

        const answer = await driver.audition(admin, projectId, { voice: VOICE, text: `Hola ${endpoint}` });
        expect([answer.status, answer.cache, answer.contentType]).toEqual([200, 'BYPASS', 'audio/mpeg']);
        const prewarm = await driver.prewarm(admin, projectId, [{ voice: VOICE, text: 'Otra línea' }]);
        expect(prewarm.status).toBeLessThan(500);
      }
      const stats = await driver.stats(admin);
      expect(stats.status).toBe(200);
      const stores = (stats.json!.projectStores ?? []) as { lastError?: string; status: string }[];
      for (const store of stores.filter((s) => s.status === 'failing')) expect(store.lastError).toBe('invalid');
      await driver.cleanup();
      expect((await driver.purge(admin)).status).toBe(200);
      expect(listener.connections).toBe(0);
      console.log(
        `${name}: ${endpoints.length} loopback/metadata endpoints × (audition, prewarm, stats, cleanup, purge): ` +
          `${listener.connections} connections at the listener`,
      );
    });

    it('refuses a Speech region with a port (422) and connects nowhere', async () => {
      const driver = drivers[name]();
      const who = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
        ttsKeyAt: 'creds',
        ttsRegion: `127.0.0.1:${listener.port}/x?`,
      });
      const before = standIn.received.length;
      const answer = await driver.audition(who, who.projectId, { voice: VOICE, text: 'Una región con puerto' });
      expect(answer.status).toBe(422);
      expect(answer.json).toMatchObject({ type: 'https://khipu.studio/problems/invalid-project-settings' });
      expect(answer.json!.detail).not.toContain(String(listener.port));
      expect(listener.connections).toBe(0);
      expect(standIn.received.length).toBe(before);
    });
  });
});

describe('a tenant who runs a hostile storage account, or sends hostile bodies (development rule: loopback reached)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let host: Awaited<ReturnType<typeof startHost>>;
  let hostile: HostileStore;
  const drivers: Drivers = {
    functions: () => functionsDriver(services),
    serve: () => serveDriver(host),
  };
  const BUDGET = 1_000;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    hostile = await startHostileStore();
    const settings = {
      PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: 'true',
      AZURE_SPEECH_HOST: standIn.host,
      AZURE_SPEECH_KEY: 'operator-key',
      DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: String(BUDGET),
      AUTH_CACHE_SECONDS: '0',
      MEMORY_CACHE_MB: '0',
    };
    services = await createTestServices(settings);
    host = await startHost(services, settings);
  });
  afterAll(async () => {
    await host?.stop();
    await services?.dispose();
    await standIn?.stop();
    await hostile?.close();
  });

  /** Uploads the hostile account takes as Blob Storage does (201), whatever its reads answer. */
  const answering = (read: (index: number) => HostileAnswer, write?: HostileAnswer) => {
    let reads = 0;
    hostile.answer((request) =>
      request.method === 'PUT'
        ? (write ?? {
            status: 201,
            headers: { etag: '"0x1"', 'last-modified': 'Mon, 07 Dec 2026 00:00:00 GMT', 'content-md5': '' },
          })
        : read(reads++),
    );
  };

  /** A tenant whose project keeps its auditions in the hostile account (and has a Speech key of its own). */
  async function hostileProject() {
    const who = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const projectId = await createTestProject(services.prisma, who, {
      ...storageSettings(hostile.endpointFor('hostile')),
      azure_tts_key: 'k',
      azure_tts_region: 'eastus',
    });
    return { who, projectId };
  }

  /** Another tenant's cached line, auditioned again and again until `work` ends: every answer, counted. */
  async function whileOthersHit<T>(driver: Driver, work: () => Promise<T>) {
    const other = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const line = { voice: VOICE, text: 'Otro inquilino, siempre en caché' };
    expect((await driver.audition(other, other.projectId, line)).cache).toBe('MISS');
    const answers: Answer[] = [];
    let done = false;
    const hitting = (async () => {
      while (!done) answers.push(await driver.audition(other, other.projectId, line));
    })();
    try {
      return { result: await work(), answers };
    } finally {
      done = true;
      await hitting;
      expect(answers.length).toBeGreaterThan(0);
      for (const answer of answers) expect([answer.status, answer.cache]).toEqual([200, 'HIT-L2']);
    }
  }

  describe.each(Object.keys(drivers) as (keyof Drivers)[])('%s', (name) => {
    it('answers a line whose blob is missing and then a gigabyte long without reading it; others keep hitting', async () => {
      const driver = drivers[name]();
      const { who, projectId } = await hostileProject();
      const line = { voice: VOICE, text: `Una línea en la cuenta hostil (${name})` };
      answering(() => BLOB_NOT_FOUND);
      expect((await driver.audition(who, projectId, line)).cache).toBe('MISS'); // stored there: a row of ours
      // Now its reads: missing (the first lookup heals), then a gigabyte (the re-check under the line's lease).
      answering((index) => (index % 2 === 0 ? BLOB_NOT_FOUND : blobOf(GB)));
      const before = driver.rss();
      const { result } = await whileOthersHit(driver, () =>
        Promise.all([driver.audition(who, projectId, line), driver.audition(who, projectId, line)]),
      );
      const grew = driver.rss() - before;
      for (const answer of result) {
        expect([answer.status, answer.contentType]).toEqual([200, 'audio/mpeg']);
        expect(answer.bytes).toBeLessThan(MB); // the stand-in's audio, never the store's gigabyte
      }
      expect(grew).toBeLessThan(RSS_BOUND);
      console.log(
        `${name}: 404 then 1 GB: RSS grew ${(grew / MB).toFixed(1)} MB; answers ${result.map((a) => a.cache).join(', ')}`,
      );
    });

    it('does not read a gigabyte error body answered to the upload of a miss', async () => {
      const driver = drivers[name]();
      const { who, projectId } = await hostileProject();
      answering(() => BLOB_NOT_FOUND, {
        status: 500,
        headers: { 'content-type': 'application/xml', 'x-ms-error-code': 'InternalError' },
        bodyBytes: GB,
        chunked: true,
      });
      const before = driver.rss();
      const sentBefore = hostile.bytesSent;
      const { result: answer } = await whileOthersHit(driver, () =>
        driver.audition(who, projectId, { voice: VOICE, text: `Una subida que falla con un giga (${name})` }),
      );
      const grew = driver.rss() - before;
      expect([answer.status, answer.contentType]).toEqual([200, 'audio/mpeg']);
      expect(answer.cache === 'BYPASS' || answer.cache === 'MISS').toBe(true); // MISS: streamed before the store failed
      expect(grew).toBeLessThan(RSS_BOUND);
      console.log(
        `${name}: 500 + 1 GB to the upload: RSS grew ${(grew / MB).toFixed(1)} MB; the store got to send ` +
          `${((hostile.bytesSent - sentBefore) / MB).toFixed(1)} MB over the SDK's tries`,
      );
    });

    it('answers 413 to a chunked 100 MB body without reading it', async () => {
      const driver = drivers[name]();
      const who = await createTestAccount(services.prisma, services.config.jwt.secretKey);
      const before = driver.rss();
      const { answer, sent } = await driver.chunkedAudition(who, who.projectId, 100 * MB);
      const grew = driver.rss() - before;
      expect(answer.status).toBe(413);
      expect(answer.json).toMatchObject({ type: 'https://khipu.studio/problems/payload-too-large' });
      expect(sent).toBeLessThan(16 * MB); // what the caller got to send: the limit and the sockets' buffers
      expect(grew).toBeLessThan(RSS_BOUND);
      console.log(
        `${name}: chunked 100 MB body: 413 after ${(sent / MB).toFixed(2)} MB sent, RSS grew ${(grew / MB).toFixed(1)} MB`,
      );
    });

    it("counts what Azure bills on the operator's key: a 1-character line with every prosody option", async () => {
      const driver = drivers[name]();
      const who = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });
      const before = standIn.received.length;
      const answers: Answer[] = [];
      for (let rate = 1; rate <= 20; rate++) {
        const line = { voice: VOICE, text: 'a', style: 'cheerful', styledegree: 1.5, rate_pct: rate, pitch_pct: 5 };
        answers.push(await driver.audition(who, who.projectId, line));
        if (answers.at(-1)!.status === 429) break;
      }
      const sent = standIn.received.slice(before).filter((r) => r.key === 'operator-key');
      const billed = sent.reduce((sum, r) => sum + billableCharacters(r.ssml), 0);
      const [usage] = await services.prisma.$queryRaw<{ characters: bigint }[]>`
        SELECT characters FROM audio_cache_default_key_usage WHERE tenant_id = ${who.tenantId}::uuid`;
      expect(answers.at(-1)!.status).toBe(429);
      expect(answers.slice(0, -1).every((a) => a.status === 200)).toBe(true);
      expect(Number(usage!.characters)).toBe(billed); // counted = what the speech service was sent
      expect(billed).toBeLessThanOrEqual(BUDGET); // never past the budget
      expect(billed + billableCharacters(sent[0]!.ssml)).toBeGreaterThan(BUDGET); // and refused only when full
      console.log(
        `${name}: ${sent.length} one-character auditions sent, ${billed} characters billed and counted ` +
          `(${billableCharacters(sent[0]!.ssml)} each), budget ${BUDGET}; the next one 429`,
      );
    });

    it('makes decimal prosody one entry: one synthesis, then HIT-L2', async () => {
      const driver = drivers[name]();
      const who = await createTestAccount(services.prisma, services.config.jwt.secretKey);
      const text = `Decimales (${name})`;
      const variants = [
        { rate_pct: 10, pitch_pct: -3, style: 'sad', styledegree: 0.5 },
        { rate_pct: 10.000001, pitch_pct: -3.0000001, style: 'sad', styledegree: 0.500001 },
        { rate_pct: 9.9999999, pitch_pct: -2.9999999, style: 'sad', styledegree: 0.4999999 },
        { rate_pct: 10.4, pitch_pct: -3.4, style: 'sad', styledegree: 0.504 },
      ];
      const before = standIn.received.length;
      const answers = [];
      for (const variant of variants)
        answers.push(await driver.audition(who, who.projectId, { voice: VOICE, text, ...variant }));
      expect(answers.map((a) => a.cache)).toEqual(['MISS', 'HIT-L2', 'HIT-L2', 'HIT-L2']);
      expect(standIn.received.slice(before).filter((r) => r.ssml.includes(text))).toHaveLength(1);
    });
  });
});
