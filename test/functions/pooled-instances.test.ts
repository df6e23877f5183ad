import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { hasPgBouncer } from '../support/test-database.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// Several instances of the local host, each reaching Postgres only through PgBouncer in transaction mode (a pool of
// 10 server connections for all of them), as the Function App reaches Azure's built-in PgBouncer. Session advisory
// locks made 16 syntheses of 40 identical misses here; a line's lease makes one.

/** The speech stand-in's first audio comes this long after the SSML. */
const SPEECH_MS = 3_000;
const LEASE_SECONDS = 6; // the default

interface Instance {
  process: ChildProcess;
  base: string;
  output(): string;
}

describe.skipIf(!hasPgBouncer())('instances through PgBouncer in transaction mode', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let workDir: string;
  let env: NodeJS.ProcessEnv;
  const instances: Instance[] = [];

  const startInstance = async (): Promise<Instance> => {
    const port = await findFreePort();
    const started = await startServeProcess({ ...env, PORT: String(port) }, workDir);
    const instance = { ...started, base: `http://127.0.0.1:${port}/api` };
    instances.push(instance);
    return instance;
  };

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.5));
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-pooled-'));
    env = hostEnvironment(services, {
      DATABASE_URL: services.database.pooledUrl(),
      DATABASE_POOL_MAX: '2',
      AZURE_SPEECH_HOST: standIn.host,
      // Deadlines longer than the freeze below: the woken holder must find its audio, not a deadline passed while it
      // was stopped (which would answer 504 and never reach the write this test is about).
      TTS_TIMEOUT_SECONDS: '60',
      TTS_FIRST_AUDIO_TIMEOUT_SECONDS: '60',
      TTS_CHUNK_TIMEOUT_SECONDS: '60',
      CACHE_LINE_LEASE_SECONDS: String(LEASE_SECONDS),
    });
  });
  afterAll(async () => {
    for (const { process: child } of instances) {
      if (child.signalCode === 'SIGSTOP') child.kill('SIGCONT');
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await services?.dispose();
    await standIn?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const audition = async (base: string, text: string) => {
    const started = performance.now();
    const response = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
    });
    const audio = Buffer.from(await response.arrayBuffer());
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      audio,
      ms: performance.now() - started,
    };
  };

  it('synthesizes a line once when forty identical misses arrive over four instances at once', async () => {
    const four = await Promise.all(Array.from({ length: 4 }, () => startInstance()));
    standIn.behave({ kind: 'audio', delayMs: 500 });
    const before = standIn.received.length;
    const text = `Una vez para todos ${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => audition(four[i % 4]!.base, text)));
    standIn.behave({ kind: 'audio' });

    expect(results.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(standIn.received.length - before).toBe(1);
    expect(new Set(results.map((r) => r.audio.toString('base64'))).size).toBe(1);
    expect(await services.prisma.audioCache.count({ where: { text } })).toBe(1);
  });

  it('takes the line of a frozen holder over within its lease, and the holder, woken, leaves the new entry be', async () => {
    while (instances.length < 2) await startInstance();
    const [holder, other] = instances;
    standIn.behave({ kind: 'audio', delayMs: SPEECH_MS });
    const before = standIn.received.length;
    const text = `Se congela ${Date.now()}`;
    const fromHolder = audition(holder!.base, text);
    fromHolder.catch(() => {}); // awaited below; a failed test must not leave it unhandled
    await expect.poll(() => standIn.received.length, { timeout: 10_000 }).toBe(before + 1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    holder!.process.kill('SIGSTOP'); // frozen one second into its miss, its sockets open

    const fromOther = await audition(other!.base, text);
    expect(fromOther.status).toBe(200);
    expect(fromOther.cache).toBe('MISS');
    // Its lease outlives its last renewal by LEASE_SECONDS at most; then one synthesis.
    expect(fromOther.ms).toBeLessThan(LEASE_SECONDS * 1_000 + SPEECH_MS + 3_000);
    expect(standIn.received.length - before).toBe(2);
    expect(other!.output()).toMatch(/took over the lease of [0-9a-f]{12}… \(generation 2\)/);
    // Stored once its response has ended.
    await expect.poll(() => services.prisma.audioCache.count({ where: { text } }), { timeout: 10_000 }).toBe(1);
    const stored = await services.prisma.audioCache.findMany({ where: { text } });

    holder!.process.kill('SIGCONT');
    const late = await fromHolder;
    expect(late.status).toBe(200);
    await expect.poll(() => holder!.output(), { timeout: 10_000 }).toMatch(/lost the lease of [0-9a-f]{12}…/);
    expect(await services.prisma.audioCache.findMany({ where: { text } })).toEqual(stored);
    standIn.behave({ kind: 'audio' });
  });
});
