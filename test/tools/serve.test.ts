import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
import { GUIDE_BODY } from '../support/auditions.ts';
import { root } from '../support/repo.ts';

describe('npm run serve (the local host)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let host: ChildProcess;
  let output: () => string;
  let base: string;
  let workDir: string;
  /** HIT-L2 answers for the guide's line: what hit_count must say once the host stops. */
  let hitsServed = 0;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(1));
    services = await createTestServices();
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const port = await findFreePort();
    base = `http://127.0.0.1:${port}/api`;

    // Settings come from local.settings.json in the working directory, like Core Tools,
    // except where the environment has its own value.
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-serve-'));
    await writeFile(
      path.join(workDir, 'local.settings.json'),
      JSON.stringify({
        IsEncrypted: false,
        Values: {
          DATABASE_URL: services.database.url,
          AZURE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
          AZURE_STORAGE_CONTAINER_NAME: services.config.blobStorage.containerName,
          AZURE_SPEECH_HOST: standIn.host,
          JWT_SECRET_KEY: 'overridden-by-the-environment',
          PORT: '1',
        },
        Host: { CORS: 'http://localhost:5173' },
      }),
    );
    const { DATABASE_URL: _, ...env } = process.env;
    // Hit counts are flushed every minute here: the last test checks the flush on SIGINT.
    const started = await startServeProcess(
      { ...env, JWT_SECRET_KEY: services.config.jwt.secretKey, PORT: String(port), HIT_FLUSH_SECONDS: '60' },
      workDir,
      null,
    ); // what npm run serve runs: the compiled sources
    host = started.process;
    output = started.output;
  });

  afterAll(async () => {
    if (host.exitCode === null) {
      host.kill('SIGKILL');
    }
    await services.dispose();
    await standIn.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it('lists the functions with their routes under /api, as func start does, at the address it listens on', () => {
    expect(output()).toContain(
      `audition: [POST] http://127.0.0.1:${new URL(base).port}/api/v1/projects/{projectId}/characters/audition`,
    );
    expect(output()).toContain(`health: [GET] http://127.0.0.1:${new URL(base).port}/api/health`);
  });

  it('answers the guide’s Step 7 requests over real HTTP: MISS, then HIT-L2', async () => {
    const send = async () =>
      fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(GUIDE_BODY),
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache-status')).toBe('MISS');
    expect(first.headers.get('content-type')).toBe('audio/mpeg');
    expect(first.headers.get('cache-control')).toBe('public, max-age=1800');
    expect(first.headers.get('transfer-encoding')).toBe('chunked'); // streamed as synthesized
    const audio = Buffer.from(await first.arrayBuffer());

    const second = await send();
    expect(second.headers.get('x-cache-status')).toBe('HIT-L2');
    expect(Number(second.headers.get('x-audio-duration'))).toBeGreaterThan(0.9);
    expect(Number(second.headers.get('content-length'))).toBe(audio.length);
    expect(Buffer.from(await second.arrayBuffer()).equals(audio)).toBe(true);
    hitsServed++;
  });

  it('streams a miss: the first audio reaches the caller while the speech service is still sending', async () => {
    const long = await encodeToneMp3(3); // 5 chunks of 4 KB
    const chunks = Math.ceil(long.length / 4096);
    standIn.behave({ kind: 'audio', audio: long, delayMs: 100, chunkIntervalMs: 150 });
    try {
      const started = performance.now();
      const response = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Streamed ${Date.now()}` }),
      });
      expect(response.headers.get('x-cache-status')).toBe('MISS');
      const reader = response.body!.getReader();
      const received: Uint8Array[] = [];
      let firstAt: number | undefined;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        firstAt ??= performance.now() - started;
        received.push(value);
      }
      const endAt = performance.now() - started;
      expect(Buffer.concat(received).equals(long)).toBe(true);
      // Buffered, the first byte would come with the last; streamed, it comes chunks earlier.
      expect(endAt - firstAt!).toBeGreaterThan((chunks - 1) * 150 * 0.8);
      expect(response.headers.get('server-timing')).toMatch(/synthesis;dur=(\d+)/);
      const firstAudioMs = Number(/synthesis;dur=([\d.]+)/.exec(response.headers.get('server-timing')!)![1]);
      expect(firstAudioMs).toBeLessThan((chunks - 1) * 150); // the wait for the first chunk only
    } finally {
      standIn.behave({ kind: 'audio' });
    }
  });

  it('answers errors as problem+json and unknown routes with 404', async () => {
    const unauthorized = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
      method: 'POST',
      body: JSON.stringify(GUIDE_BODY),
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('content-type')).toBe('application/problem+json');
    const nowhere = await fetch(`${base}/nothing-here`);
    expect([nowhere.status, nowhere.headers.get('content-type')]).toEqual([404, 'application/problem+json']);
    const wrongMethod = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`);
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('allows the web client’s origin (Host.CORS), preflight included', async () => {
    const preflight = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://localhost:5173',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization,content-type');

    const health = await fetch(`${base}/health`, { headers: { Origin: 'http://localhost:5173' } });
    expect(health.status).toBe(200);
    expect(health.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const stranger = await fetch(`${base}/health`, { headers: { Origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('runs the cleanup timer on POST /admin/functions/cleanup, as Core Tools does', async () => {
    expect(output()).toMatch(/cleanup: timerTrigger \(0 0 \* \* \* \*;/);
    const response = await fetch(`${new URL(base).origin}/admin/functions/cleanup`, {
      method: 'POST',
      body: '{"input":""}',
    });
    expect(response.status).toBe(202);
    await expect.poll(() => output(), { timeout: 10_000 }).toMatch(/Executed 'cleanup' \(Succeeded/);
    expect(output()).toMatch(/\[cleanup\] Running audio cache cleanup\.\.\./);
    expect(output()).toMatch(/\[cleanup\] Cache stats: \d+ entries/);
    expect((await fetch(`${new URL(base).origin}/admin/functions/nothing`, { method: 'POST' })).status).toBe(404);
  });

  it('stops on SIGINT, writing the hit counts it still held', async () => {
    // Hits since the last periodic flush are only in memory now; stopping must write them.
    for (let i = 0; i < 5; i++) {
      const hit = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(GUIDE_BODY),
      });
      expect(hit.headers.get('x-cache-status')).toBe('HIT-L2');
      await hit.arrayBuffer();
      hitsServed++;
    }
    const exited = new Promise<number | null>((resolve) => host.once('exit', (code) => resolve(code)));
    host.kill('SIGINT');
    expect(await exited).toBe(0);
    const row = await services.prisma.audioCache.findFirstOrThrow({
      where: { text: GUIDE_BODY.text, tenantId: account.tenantId },
    });
    expect(row.hitCount).toBe(hitsServed);
  });
});

describe('npm run serve with an upstream that is not an http(s) URL', () => {
  /** serve.js's exit code and output, run in an empty folder (no local.settings.json). */
  async function serveExit(args: string[], env: NodeJS.ProcessEnv) {
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-serve-upstream-'));
    try {
      const child = spawn(process.execPath, [path.join(root, 'dist/tools/serve.js'), ...args], {
        cwd: workDir,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      return { code, output };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  it('stops at start with a message naming the setting, or the flag', async () => {
    expect(await serveExit([], { KHIPU_CLOUD_API_URL: 'localhost:8000' })).toEqual({
      code: 1,
      output: 'KHIPU_CLOUD_API_URL must be an http:// or https:// URL (got localhost: in "localhost:8000")\n',
    });
    const flag = await serveExit(['--upstream', 'not a url'], { KHIPU_CLOUD_API_URL: 'http://localhost:8000' });
    expect(flag).toEqual({
      code: 1,
      output: '--upstream must be an http:// or https:// URL such as http://localhost:8000 (got "not a url")\n',
    });
  });
});
