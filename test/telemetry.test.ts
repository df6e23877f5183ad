import { randomBytes } from 'node:crypto';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditionHandler } from '../src/handlers/audition-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from './support/accounts.ts';
import { invokeHttp } from './support/invoke-http.ts';
import { createTestServices, type TestServices } from './support/test-services.ts';

/** Reads what the app's meters recorded, on demand (what the Azure Monitor exporter would send). */
class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

describe('metrics (what Application Insights receives through the Azure Monitor exporter)', () => {
  const reader = new CollectingReader();
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  let audio: Buffer;

  beforeAll(async () => {
    // startTelemetry registers the global meter provider; here a provider we can read stands in.
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    audio = await encodeToneMp3(0.4);
    standIn = await startSpeechStandIn(audio);
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
    metrics.disable();
  });

  async function audition(body: object, token?: string) {
    const { response } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
        headers: { authorization: `Bearer ${token ?? (await account.token())}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        params: { projectId: account.projectId },
      },
    );
    await response.arrayBuffer(); // a streamed miss reports its bytes when it ends
    await services.auditions.drain();
    return response;
  }

  async function collected() {
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    const points = (name: string) =>
      (all.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as DataPoint<number>[];
    const sum = (name: string, attributes: Record<string, unknown>) =>
      points(name)
        .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
        .reduce((total, p) => total + p.value, 0);
    return {
      points,
      sum,
      histogram: (name: string) =>
        (all.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as DataPoint<Histogram>[],
    };
  }

  it('counts requests by cache status and tier, bytes served, synthesis time and failures by reason', async () => {
    const body = { voice: 'es-AR-ElenaNeural', text: `Métricas ${randomBytes(4).toString('hex')}` };
    expect((await audition(body)).headers.get('x-cache-status')).toBe('MISS');
    expect((await audition(body)).headers.get('x-cache-status')).toBe('HIT-L2');
    expect((await audition(body, 'not.a.token')).status).toBe(401);
    standIn.behave({ kind: 'reject-upgrade', status: 401 });
    try {
      expect((await audition({ ...body, text: `${body.text} otra` })).status).toBe(502);
    } finally {
      standIn.behave({ kind: 'audio' });
    }

    const { sum, histogram } = await collected();
    expect(sum('audition_requests', { cache_status: 'MISS', tier: 'synthesis', status: 200 })).toBe(1);
    expect(sum('audition_requests', { cache_status: 'HIT-L2', tier: 'memory', status: 200 })).toBe(1);
    expect(sum('audition_requests', { cache_status: 'ERROR', status: 401 })).toBe(1);
    expect(sum('audition_requests', { cache_status: 'ERROR', status: 502 })).toBe(1);
    // The streamed miss and the hit: the same audio twice.
    expect(sum('audition_bytes_served', {})).toBe(2 * audio.length);
    expect(sum('tts_synthesis_failures', { reason: 'tts-credentials-rejected' })).toBe(1);
    const durations = histogram('tts_synthesis_duration');
    expect(durations.reduce((n, p) => n + p.value.count, 0)).toBe(1);
    expect(durations[0]!.value.sum).toBeGreaterThan(0);
  });
});
