import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { hostEnvironment, startServeProcess } from '../support/serve-process.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

/** What the speech service takes for every synthesis here. */
const SPEECH_LATENCY_MS = 1_000;

describe('one tenant’s burst does not starve another tenant (real host, default TTS_MAX_CONCURRENCY)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let workDir: string;
  let host: ChildProcess | undefined;
  let base: string;
  let tenantA: TestAccount;
  let tenantB: TestAccount;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    standIn.behave({ kind: 'audio', delayMs: SPEECH_LATENCY_MS });
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
    tenantA = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    tenantB = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-fairness-'));
    const port = await findFreePort();
    ({ process: host } = await startServeProcess(
      hostEnvironment(services, { PORT: String(port), AZURE_SPEECH_HOST: standIn.host }),
      workDir,
    ));
    base = `http://127.0.0.1:${port}/api`;
  });
  afterAll(async () => {
    if (host && host.exitCode === null && host.signalCode === null) {
      const exited = new Promise((resolve) => host!.once('exit', resolve));
      host.kill('SIGINT');
      await exited;
    }
    await services.dispose();
    await standIn.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  const audition = async (who: TestAccount, text: string) => {
    const started = performance.now();
    const response = await fetch(`${base}/v1/projects/${who.projectId}/characters/audition`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await who.token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
    });
    await response.arrayBuffer();
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      ms: performance.now() - started,
      timing: response.headers.get('server-timing'),
    };
  };

  it('gives B’s single audition the next free synthesis slot while A’s 200 misses queue; A’s get audio or 503 + Retry-After', async () => {
    // Both callers are known to the host before the burst (their first check reads Postgres).
    await Promise.all([audition(tenantA, 'Calentamiento A'), audition(tenantB, 'Calentamiento B')]);
    const alone = await audition(tenantB, 'B sola');

    // A fills every slot (TTS_MAX_CONCURRENCY = 20) and queues 180 more; then B asks once.
    // What fairness means is an order, which a busy machine cannot change: once B waits, the
    // next slot that frees is B's. So between B's request and B's synthesis, the speech service
    // starts at most the syntheses of A that were granted before B was in the queue (one round
    // of slots, 20, and those being granted as B arrives); first come, first served would start
    // all of A's queue (~180) first. Timings are printed, not asserted.
    const burst = Array.from({ length: 200 }, (_, i) => audition(tenantA, `Ráfaga del inquilino A, línea ${i}`));
    const startedOfA = () => standIn.received.filter((r) => r.ssml.includes('Ráfaga')).length;
    await expect.poll(startedOfA, { timeout: 30_000 }).toBeGreaterThanOrEqual(20);
    // Enough of A’s burst still queued when B asks that first come, first served would start more
    // of it (≥ 50) before B than fairness allows (≤ 25).
    expect(startedOfA()).toBeLessThanOrEqual(150);
    const sentAt = standIn.received.length;
    const b = await audition(tenantB, 'La única audición del inquilino B');
    const a = await Promise.all(burst);
    const startedBefore = standIn.received
      .slice(sentAt)
      .findIndex((r) => r.ssml.includes('La única audición del inquilino B'));
    console.log(
      `B answered in ${Math.round(b.ms)} ms behind A's burst (${Math.round(alone.ms)} ms alone; stand-in ${SPEECH_LATENCY_MS} ms; ${b.timing}); ` +
        `${startedBefore} of A's syntheses started between B's request and B's synthesis; A: ${JSON.stringify(statusCounts(a))}`,
    );
    expect(b.status).toBe(200);
    expect(startedBefore).toBeGreaterThanOrEqual(0); // B's SSML reached the speech service after B asked
    expect(startedBefore).toBeLessThanOrEqual(25);
    for (const answer of a) {
      if (answer.status === 200) continue;
      expect(answer).toMatchObject({ status: 503, retryAfter: '2' });
    }
  }, 90_000);
});

function statusCounts(answers: { status: number }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
