import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// A real browser, as the Khipu web app runs in one: headless Chromium (Debian's package, which
// `.ci/run` installs; CHROMIUM_PATH elsewhere). Without one this file says so and skips.
const CHROMIUM =
  process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((file) => existsSync(file));

/** khipu-web's dev server origin (its Vite config). */
const WEB_ORIGIN_PORT = 3000;

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

describe.skipIf(!CHROMIUM)('the Khipu web app in a real browser (headless Chromium on localhost:3000)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let host: ChildProcess;
  let page: http.Server;
  let browser: Browser;
  let workDir: string;
  let baseUrl: string;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.6));
    // The deployment this is for: the Khipu Cloud API's database, the key where its UI puts it.
    services = await createTestServices({}, 'khipu');
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
      ttsKey: 'ui-stored-key',
      ttsKeyAt: 'creds',
    });

    // The local host as `npm start` runs it when local.settings.json names no Host.CORS.
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-web-'));
    const port = await findFreePort();
    baseUrl = `http://127.0.0.1:${port}/api`;
    host = (
      await startServeProcess(
        hostEnvironment(services, {
          AZURE_SPEECH_HOST: standIn.host,
          LOCAL_HOST_CORS: 'http://localhost:3000,http://localhost:5173',
          PORT: String(port),
        }),
        workDir,
      )
    ).process;

    // The web app's origin: a page on localhost:3000.
    page = http.createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>khipu-web</title>'),
    );
    await new Promise<void>((resolve, reject) => {
      page.once('error', reject);
      page.listen(WEB_ORIGIN_PORT, '127.0.0.1', resolve);
    });
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
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('auditions every voice of a project whose key is in settings.creds.tts.azure, then plays them all from the cache', async () => {
    const tab = await browser.newPage();
    await tab.goto(`http://localhost:${WEB_ORIGIN_PORT}/`);
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
});
