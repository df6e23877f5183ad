import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { otherVoicesOfLanguage, SHIPPED_VOICES } from '../../src/domain/voice-inventory.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// A real browser, as the Khipu web app runs in one: headless Chromium (Debian's package, which
// `.ci/run` installs; CHROMIUM_PATH elsewhere). Without one this file says so and skips.
const CHROMIUM =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((file) => existsSync(file));

// One voice per language the casting page offers most, all `engine: "azure"` as in the web app.
const VOICES = [
  'es-PE-CamilaNeural',
  'es-AR-ElenaNeural',
  'es-ES-ElviraNeural',
  'en-US-AvaMultilingualNeural',
  'pt-BR-FranciscaNeural',
  'fr-FR-DeniseNeural',
  'de-DE-KatjaNeural',
  'it-IT-ElsaNeural',
  'ja-JP-NanamiNeural',
  'zh-CN-XiaoxiaoNeural',
  'hi-IN-SwaraNeural',
  'ar-SA-ZariyahNeural',
  'ru-RU-SvetlanaNeural',
  'ko-KR-SunHiNeural',
];

/**
 * What khipu-web's casting page does for each voice (its axios instance: JSON, its Accept
 * header, the Bearer token, `responseType: 'blob'`), run inside the page: a cross-origin POST
 * with a preflight, then the MP3 decoded by the browser's own audio element.
 */
const AUDITION_IN_PAGE = async ({
  baseUrl,
  token,
  projectId,
  voice,
}: {
  baseUrl: string;
  token: string;
  projectId: string;
  voice: string;
}) => {
  const response = await fetch(`${baseUrl}/v1/projects/${projectId}/voices/${voice}/audition`, {
    method: 'POST',
    headers: {
      Accept: 'application/json, text/plain, */*',
      'Content-Type': 'application/json',
      Authorization: `Bearer ${token}`,
    },
    body: '{}',
  });
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  // (This runs in the page; the test's TypeScript has no DOM types, hence the cast.)
  const AudioElement = (
    globalThis as unknown as {
      Audio: new () => { duration: number; src: string; onloadedmetadata: () => void; onerror: () => void };
    }
  ).Audio;
  const duration = await new Promise<number>((resolve, reject) => {
    const audio = new AudioElement();
    audio.onloadedmetadata = () => resolve(audio.duration);
    audio.onerror = () =>
      reject(new Error(`the browser could not decode the audio of ${voice} (${blob.type}, ${blob.size} bytes)`));
    audio.src = url;
  });
  URL.revokeObjectURL(url);
  return {
    status: response.status,
    type: blob.type,
    duration,
    // Readable only because the service exposes them through CORS.
    cache: response.headers.get('X-Cache-Status'),
    disposition: response.headers.get('Content-Disposition'),
    etag: response.headers.get('ETag'),
  };
};

/** A casting- or characters-page click in the page: the voices route with this body; status and cache status. */
const CLICK_IN_PAGE = async ({
  baseUrl,
  token,
  projectId,
  voice,
  body,
}: {
  baseUrl: string;
  token: string;
  projectId: string;
  voice: string;
  body: object;
}) => {
  const response = await fetch(`${baseUrl}/v1/projects/${projectId}/voices/${voice}/audition`, {
    method: 'POST',
    headers: {
      Accept: 'application/json, text/plain, */*',
      'Content-Type': 'application/json',
      Authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
  });
  const blob = await response.blob();
  return { status: response.status, cache: response.headers.get('X-Cache-Status'), type: blob.type };
};

// ---- The Khipu Cloud API beside the service: one base URL (issue 29) ----------------------------

/** A request the Khipu Cloud API stand-in received. */
interface CloudApiRequest {
  method: string;
  url: string;
  host: string | undefined;
  authorization: string | undefined;
  body: string;
}

/**
 * A stand-in for the Khipu Cloud API's `POST /api/v1/auth/refresh` as FastAPI answers it: JSON
 * `{access_token, refresh_token, token_type}` for the refresh token it issued, else 401 `{detail}`;
 * with its own CORS headers (Starlette's CORSMiddleware), which the local host must replace.
 */
async function startCloudApiStandIn(refreshToken: string, issueAccessToken: () => Promise<string>) {
  const received: CloudApiRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.once('end', () => {
      received.push({
        method: req.method!,
        url: req.url!,
        host: req.headers.host,
        authorization: req.headers.authorization,
        body,
      });
      const cors = {
        'access-control-allow-origin': req.headers.origin ?? '*',
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': 'X-Cache-Status, X-Audio-Duration',
        vary: 'Origin',
      };
      const json = (status: number, value: unknown) =>
        res.writeHead(status, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method !== 'POST' || req.url !== '/api/v1/auth/refresh') return json(404, { detail: 'Not Found' });
      const sent = (JSON.parse(body || '{}') as { refresh_token?: string }).refresh_token;
      if (sent !== refreshToken) return json(401, { detail: 'Invalid refresh token' });
      void issueAccessToken().then((accessToken) =>
        json(200, { access_token: accessToken, refresh_token: refreshToken, token_type: 'bearer' }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
type CloudApiStandIn = Awaited<ReturnType<typeof startCloudApiStandIn>>;

/**
 * What khipu-web's axios interceptor does on a 401, inside the page: POST the refresh token to
 * `${baseUrl}/v1/auth/refresh` on the same base URL (JSON, so a preflight), then retry the
 * audition once with the new access token.
 */
const REFRESH_THEN_RETRY_IN_PAGE = async ({
  baseUrl,
  expiredToken,
  refreshToken,
  projectId,
  voice,
}: {
  baseUrl: string;
  expiredToken: string;
  refreshToken: string;
  projectId: string;
  voice: string;
}) => {
  const audition = (token: string) =>
    fetch(`${baseUrl}/v1/projects/${projectId}/voices/${voice}/audition`, {
      method: 'POST',
      headers: {
        Accept: 'application/json, text/plain, */*',
        'Content-Type': 'application/json',
        Authorization: `Bearer ${token}`,
      },
      body: '{}',
    });
  const first = await audition(expiredToken);
  const refresh = await fetch(`${baseUrl}/v1/auth/refresh`, {
    method: 'POST',
    headers: { Accept: 'application/json, text/plain, */*', 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken }),
  });
  const tokens = (await refresh.json()) as { access_token: string; refresh_token: string; token_type: string };
  const retried = await audition(tokens.access_token);
  const audio = await retried.blob();
  return {
    first: first.status,
    refresh: { status: refresh.status, tokenType: tokens.token_type, refreshToken: tokens.refresh_token },
    accessToken: tokens.access_token,
    retried: {
      status: retried.status,
      type: audio.type,
      size: audio.size,
      cache: retried.headers.get('X-Cache-Status'),
    },
  };
};

// ---- end of the Khipu Cloud API stand-in ---------------------------------------------------------

describe.skipIf(!CHROMIUM)('the Khipu web app in a real browser (headless Chromium on a localhost origin)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let host: ChildProcess;
  let page: http.Server;
  let browser: Browser;
  let workDir: string;
  let baseUrl: string;
  // The web app's origin: khipu-web's dev server is http://localhost:3000 (its Vite config); here a
  // page on a port the OS hands out, so a developer's own server on 3000 does not fail the suite.
  let webOrigin: string;
  // The Khipu Cloud API beside the service (issue 29): the host's upstream.
  let cloudApi: CloudApiStandIn;
  const REFRESH_TOKEN = 'refresh-token-issued-by-the-cloud-api';

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.6));
    // The deployment this is for: the Khipu Cloud API's database, the key where its UI puts it.
    services = await createTestServices({}, 'khipu');
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
      ttsKey: 'ui-stored-key',
      ttsKeyAt: 'creds',
    });

    cloudApi = await startCloudApiStandIn(REFRESH_TOKEN, () => account.token());

    // The web app's page, on localhost at a port of its own (the OS's pick: nothing to race for);
    // the host below allows its origin through LOCAL_HOST_CORS.
    page = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>khipu-web</title>'),
    );
    await new Promise<void>((resolve, reject) => {
      page.once('error', reject);
      page.listen(0, '127.0.0.1', resolve);
    });
    webOrigin = `http://localhost:${(page.address() as AddressInfo).port}`;

    // The local host as `npm start` runs it when local.settings.json names no Host.CORS, with the
    // Khipu Cloud API as its upstream (KHIPU_CLOUD_API_URL).
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-web-'));
    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}/api`;
    host = (
      await startServeProcess(
        hostEnvironment(services, {
          AZURE_SPEECH_HOST: standIn.host,
          LOCAL_HOST_CORS: `${webOrigin},http://localhost:5173`,
          PORT: String(port),
          KHIPU_CLOUD_API_URL: cloudApi.url,
        }),
        workDir,
      )
    ).process;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => page?.close(resolve));
    if (host && host.exitCode === null) host.kill('SIGKILL');
    await services?.dispose();
    await standIn?.stop();
    await cloudApi?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('auditions every voice of a project whose key is in settings.creds.tts.azure, then plays them all from the cache', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${webOrigin}/`);
    const token = await account.token();
    const before = standIn.received.length;
    const run = () =>
      Promise.all(
        VOICES.map((voice) => tab.evaluate(AUDITION_IN_PAGE, { baseUrl, token, projectId: account.projectId, voice })),
      );

    const first = await run();
    for (const [i, result] of first.entries()) {
      expect(result, VOICES[i]).toMatchObject({
        status: 200,
        type: 'audio/mpeg',
        cache: 'MISS',
        disposition: `inline; filename="${VOICES[i]}-audition.mp3"`,
      });
      expect(result.duration, VOICES[i]).toBeGreaterThan(0.4);
    }
    // Each voice synthesized once, with the key the project's settings page stored.
    const synthesized = standIn.received.slice(before);
    expect(synthesized).toHaveLength(VOICES.length);
    expect(new Set(synthesized.map((s) => s.key))).toEqual(new Set(['ui-stored-key']));

    const second = await run();
    for (const [i, result] of second.entries()) {
      expect(result, VOICES[i]).toMatchObject({ status: 200, cache: 'HIT-L2', etag: first[i]!.etag });
    }
    expect(standIn.received.length - before).toBe(VOICES.length);
    await tab.close();
  });
  // ---- A project's own storage account (issue 30): settings.creds.storage.azure, as the settings page saves it ----
  it("auditions a project with its own storage account: the audio lands in that account's container, then HIT-L2", async () => {
    const storage = inject('azuriteProjectAccount');
    const credential = new StorageSharedKeyCredential(storage.accountName, storage.accessKey);
    const container = new BlobServiceClient(storage.endpoint, credential).getContainerClient('audios');
    await container.createIfNotExists(); // the customer's container (the service never creates one there)
    const { accountName, accessKey, endpoint } = storage;
    const projectId = await createTestProject(services.prisma, account, {
      creds: {
        tts: { azure: { key: 'ui-stored-key', region: 'eastus' } },
        storage: { azure: { accountName, accessKey, endpoint } },
      },
    });
    const tab = await browser.newPage();
    await tab.goto(`${webOrigin}/`);
    const token = await account.token();
    const voice = 'es-MX-DaliaNeural';

    const first = await tab.evaluate(AUDITION_IN_PAGE, { baseUrl, token, projectId, voice });
    expect(first).toMatchObject({ status: 200, type: 'audio/mpeg', cache: 'MISS' });
    // Stored once the response has ended (the store follows the last chunk).
    const listed = async () => {
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat({ prefix: `audio-cache/${account.tenantId}/` }))
        names.push(blob.name);
      return names;
    };
    await expect.poll(listed, { timeout: 10_000 }).toHaveLength(1);
    const stored = await listed();
    await expect
      .poll(async () => await services.prisma.audioCacheAudition.count({ where: { blobStore: `${endpoint}/audios` } }))
      .toBe(1);
    const [row] = await services.prisma.$queryRaw<{ path: string }[]>`
      SELECT c.audio_blob_path AS path FROM audio_cache c JOIN audio_cache_auditions n ON n.cache_key = c.cache_key
       WHERE n.blob_store = ${`${endpoint}/audios`} AND c.tenant_id = ${account.tenantId}::uuid`;
    expect(row?.path).toBe(stored[0]);

    const second = await tab.evaluate(AUDITION_IN_PAGE, { baseUrl, token, projectId, voice });
    expect(second).toMatchObject({ status: 200, cache: 'HIT-L2', etag: first.etag });
    await tab.close();
  });
  // ---- One base URL: the token refresh goes through the local host to the Khipu Cloud API (issue 29) ----
  it('refreshes an expired token at the same base URL (proxied to the Khipu Cloud API), then retries the audition', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${webOrigin}/`);
    const refreshAnswer = tab.waitForResponse(
      (r) => r.url().endsWith('/v1/auth/refresh') && r.request().method() === 'POST',
    );
    const before = cloudApi.received.length;
    const result = await tab.evaluate(REFRESH_THEN_RETRY_IN_PAGE, {
      baseUrl,
      expiredToken: await account.token({}, { expiresIn: '-1m' }),
      refreshToken: REFRESH_TOKEN,
      projectId: account.projectId,
      voice: VOICES[0]!,
    });

    expect(result).toMatchObject({
      first: 401,
      refresh: { status: 200, tokenType: 'bearer', refreshToken: REFRESH_TOKEN },
      retried: { status: 200, type: 'audio/mpeg' },
    });
    expect(result.retried.size).toBeGreaterThan(0);
    // The browser saw one set of CORS headers on the refresh: the local host's, not the Cloud API's.
    const headers = await (await refreshAnswer).headersArray();
    const cors = headers.filter(({ name }) => /^access-control-/i.test(name));
    expect(cors.filter(({ name }) => name.toLowerCase() === 'access-control-allow-origin')).toEqual([
      { name: expect.stringMatching(/^access-control-allow-origin$/i), value: webOrigin },
    ]);
    expect(cors.map(({ name }) => name.toLowerCase())).not.toContain('access-control-allow-credentials');
    // Only the refresh reached the Cloud API: its preflight and the auditions were the host's own.
    const reached = cloudApi.received.slice(before);
    expect(reached.map(({ method, url }) => `${method} ${url}`)).toEqual(['POST /api/v1/auth/refresh']);
    expect(reached[0]!.host).toBe(new URL(cloudApi.url).host);
    expect(JSON.parse(reached[0]!.body)).toEqual({ refresh_token: REFRESH_TOKEN });
    await tab.close();
  });
  // ---- end of the token refresh ----

  // ---- Predictive prewarm: the casting page's next clicks are hits (issue 29) ----
  it('a casting session: after the first Spanish voice the next four are HIT-L2, and a characters-page audition meanwhile is not queued behind the background work', async () => {
    // A host with predictive prewarm on (the default, 24 voices), for a new tenant; each synthesis takes 300 ms.
    const port = await findFreePort();
    const castingUrl = `http://127.0.0.1:${port}/api`;
    const casting = await startServeProcess(
      hostEnvironment(services, {
        AZURE_SPEECH_HOST: standIn.host,
        LOCAL_HOST_CORS: webOrigin,
        PORT: String(port),
        PREDICTIVE_PREWARM_MAX_VOICES: '24',
        PREDICTIVE_PREWARM_CONCURRENCY: '2',
      }),
      workDir,
    );
    const tenant = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
      ttsKey: 'casting-key',
      ttsKeyAt: 'creds',
    });
    standIn.behave({ kind: 'audio', delayMs: 300 });
    const tab = await browser.newPage();
    try {
      await tab.goto(`${webOrigin}/`);
      const token = await tenant.token();
      const click = (voice: string, body: object = {}) =>
        tab.evaluate(CLICK_IN_PAGE, { baseUrl: castingUrl, token, projectId: tenant.projectId, voice, body });
      const spoken = (from: number) =>
        standIn.received.slice(from).map((r) => /<voice name="([^"]+)"/.exec(r.ssml)?.[1]);
      const before = standIn.received.length;

      expect(await click('es-PE-CamilaNeural')).toMatchObject({ status: 200, cache: 'MISS' });
      // The characters page, while the other Spanish voices are being prewarmed.
      const line = { text: 'Soy la narradora de esta historia.', style: 'cheerful' };
      expect(await click('es-AR-ElenaNeural', line)).toMatchObject({ status: 200, cache: 'MISS' });
      const characterAt = standIn.received.findIndex((r, i) => i >= before && r.ssml.includes(line.text));
      expect(characterAt).toBeGreaterThan(before);

      // The next four voices of the list (the same locale first, then the others in order) play from the cache once
      // prewarmed (the burst takes ~12 × 0.3 s here).
      const next = ['es-PE-AlexNeural', 'es-AR-ElenaNeural', 'es-AR-TomasNeural', 'es-BO-SofiaNeural'].filter((v) =>
        otherVoicesOfLanguage(SHIPPED_VOICES, 'es-PE-CamilaNeural', 'es-PE')
          .slice(0, 24)
          .some((known) => known.name === v),
      );
      expect(next).toHaveLength(4);
      // Stored (the host logs each as it lands), within 30 s of the first click.
      const stored = (voice: string) => casting.output().includes(`"voice":"${voice}","status":"created"`);
      await expect.poll(() => next.every(stored), { timeout: 30_000 }).toBe(true);
      for (const voice of next) expect(await click(voice), voice).toMatchObject({ status: 200, cache: 'HIT-L2' });
      await expect.poll(() => spoken(before).length, { timeout: 30_000 }).toBe(2 + 24);
      // Not queued behind the background work: it reached the speech service while most of the burst was to come.
      expect(spoken(characterAt + 1).length).toBeGreaterThan(12);
      expect(new Set(standIn.received.slice(before).map((r) => r.key))).toEqual(new Set(['casting-key']));
    } finally {
      standIn.behave({ kind: 'audio' });
      await tab.close();
      casting.process.kill('SIGKILL');
    }
  });
  // ---- end of predictive prewarm ----
});
