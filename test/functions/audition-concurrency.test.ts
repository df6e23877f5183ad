import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe('synthesis concurrency per instance (TTS_MAX_CONCURRENCY)', () => {
  let standIn: SpeechStandIn;
  const opened: TestServices[] = [];
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.dispose()));
    await standIn.stop();
  });

  async function fourDifferentMisses(queueWaitSeconds: string) {
    const services = await createTestServices({
      AZURE_SPEECH_HOST: standIn.host,
      TTS_MAX_CONCURRENCY: '2',
      TTS_QUEUE_WAIT_SECONDS: queueWaitSeconds,
    });
    opened.push(services);
    const account: TestAccount = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const token = await account.token();
    const handler = createAuditionHandler(() => services);
    standIn.behave({ kind: 'audio', delayMs: 1000 });
    standIn.resetStats();
    const started = Date.now();
    const results = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const { response } = await invokeHttp(handler, {
          url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text: `Línea número ${i} de ${queueWaitSeconds}` }),
          params: { projectId: account.projectId },
        });
        return { status: response.status, retryAfter: response.headers.get('retry-after'), ms: Date.now() - started };
      }),
    );
    standIn.behave({ kind: 'audio' });
    return results;
  }

  it('never runs more than the limit at once, and queued requests get their turn', async () => {
    const results = await fourDifferentMisses('5');
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(standIn.maxConcurrent).toBe(2);
  });

  it('answers 503 with Retry-After when no slot frees up within the wait, instead of hanging', async () => {
    const results = await fourDifferentMisses('0.2');
    expect(results.filter((r) => r.status === 200)).toHaveLength(2);
    const refused = results.filter((r) => r.status === 503);
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      expect(r.retryAfter).toBe('2');
      expect(r.ms).toBeLessThan(900); // refused after the 0.2 s wait, not after a 1 s synthesis
    }
  });
});
