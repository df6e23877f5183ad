import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';

/** One `npm run serve`, as another Functions instance on the same stores. */
async function startInstance(env: NodeJS.ProcessEnv, cwd: string): Promise<{ process: ChildProcess; base: string }> {
  const port = await findFreePort();
  const { process: child } = await startServeProcess({ ...env, PORT: String(port) }, cwd);
  return { process: child, base: `http://127.0.0.1:${port}/api` };
}

describe('several instances on one Postgres and one Blob Storage', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let workDir: string;
  const instances: ChildProcess[] = [];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.5));
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-instances-'));
    env = hostEnvironment(services, { AZURE_SPEECH_HOST: standIn.host, TTS_TIMEOUT_SECONDS: '30' });
  });
  afterAll(async () => {
    for (const child of instances) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await services.dispose();
    await standIn.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  const audition = async (base: string, text: string) => {
    const response = await fetch(`${base}/v1/projects/${account.projectId}/characters/audition`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await account.token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
    });
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      audio: Buffer.from(await response.arrayBuffer()),
    };
  };

  it('synthesizes a line once when two instances receive it at the same moment', async () => {
    const [a, b] = await Promise.all([startInstance(env, workDir), startInstance(env, workDir)]);
    instances.push(a.process, b.process);
    standIn.behave({ kind: 'audio', delayMs: 500 });
    const before = standIn.received.length;
    const text = `Al mismo tiempo ${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => audition(i % 2 ? a.base : b.base, text)));
    standIn.behave({ kind: 'audio' });

    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(standIn.received.length - before).toBe(1);
    expect(new Set(results.map((r) => r.audio.toString('base64'))).size).toBe(1);
    expect(results.filter((r) => r.cache === 'MISS').length).toBeGreaterThanOrEqual(1);
    expect(await services.prisma.audioCache.count({ where: { text } })).toBe(1);
  });

  it('does not let an instance that dies mid-synthesis block the line longer than its lease', async () => {
    // A killed holder stops renewing its line's lease: another instance takes the line over once it expires.
    const leased = { ...env, CACHE_LINE_LEASE_SECONDS: '2' };
    const [a, b] = await Promise.all([startInstance(leased, workDir), startInstance(leased, workDir)]);
    instances.push(a.process, b.process);
    const text = `Se cae a mitad ${Date.now()}`;
    standIn.behave({ kind: 'hang' });
    const before = standIn.received.length;
    void audition(a.base, text).catch(() => undefined); // A takes the line's lease and hangs
    await expect.poll(() => standIn.received.length, { timeout: 10_000 }).toBe(before + 1);

    const waiting = audition(b.base, text); // B waits for A's result…
    await new Promise((resolve) => setTimeout(resolve, 300));
    standIn.behave({ kind: 'audio' });
    a.process.kill('SIGKILL'); // …and A dies holding the lease.

    const started = Date.now();
    const result = await waiting;
    expect(result.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(standIn.received.length).toBe(before + 2); // B synthesized it itself
  });

  it('does not let an instance whose synthesis times out block the line', async () => {
    const settings = testSettings(services.database.url, {
      AZURE_SPEECH_HOST: standIn.host,
      JWT_SECRET_KEY: services.config.jwt.secretKey,
      AZURE_STORAGE_CONTAINER_NAME: services.config.blobStorage.containerName,
      TTS_TIMEOUT_SECONDS: '1',
    });
    const first = createServices(parseConfig(settings));
    const second = createServices(parseConfig(settings));
    try {
      const text = `Se demora ${Date.now()}`;
      const call = async (s: typeof first) => {
        const { response } = await invokeHttp(
          createAuditionHandler(() => s),
          {
            url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
            headers: { authorization: `Bearer ${await account.token()}`, 'content-type': 'application/json' },
            body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
            params: { projectId: account.projectId },
          },
        );
        return response.status;
      };
      standIn.behave({ kind: 'hang' });
      const before = standIn.received.length;
      const holder = call(first);
      // The holder's turn is hanging (the stand-in reads its behaviour as each SSML arrives):
      // only then does the waiter come, and the service answer normally again.
      await expect.poll(() => standIn.received.length, { timeout: 10_000 }).toBe(before + 1);
      const waiter = call(second);
      standIn.behave({ kind: 'audio' });
      expect(await holder).toBe(504);
      expect(await waiter).toBe(200);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
