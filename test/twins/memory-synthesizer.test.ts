import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Audition } from '../../src/domain/audition.ts';
import { SynthesisError } from '../../src/ports/synthesizer.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { MemorySynthesizer } from './memory-synthesizer.ts';
import { describeSynthesizerContract } from '../ports/synthesizer.contract.ts';
import { piecesOf } from '../support/synthesis-pieces.ts';

describeSynthesizerContract('MemorySynthesizer', async () => {
  const synthesizer = new MemorySynthesizer();
  return {
    synthesizer,
    credentials: { key: 'twin-key', region: 'eastus' },
    received: () => synthesizer.received.map(({ ssml, credentials }) => ({ ssml, key: credentials?.key })),
    refuseCredentialsNext: () => synthesizer.failNext('credentials-rejected'),
    throttleNext: () => synthesizer.failNext('throttled'),
  };
});

const AUDITION: Audition = {
  voice: 'es-AR-ElenaNeural',
  locale: 'es-AR',
  text: 'Hola',
  style: null,
  styleDegree: 1,
  ratePct: 0,
  pitchPct: 0,
};
const ask = (ssml: string) => ({ ssml, audition: AUDITION, credentials: { key: 'k', region: 'eastus' } });

describe('MemorySynthesizer test controls', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fails only the next synthesis, one queued failure per call, in the order asked', async () => {
    const synthesizer = new MemorySynthesizer();
    synthesizer.failNext('throttled');
    synthesizer.failNext('timeout');
    const outcomes = await Promise.allSettled([
      synthesizer.synthesize(ask('a')).whole,
      synthesizer.synthesize(ask('b')).whole,
      synthesizer.synthesize(ask('c')).whole,
    ]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as SynthesisError).failure : 'audio'))).toEqual([
      'throttled',
      'timeout',
      'audio',
    ]);
    expect(synthesizer.calls).toBe(3);
    expect(synthesizer.received.map((r) => r.ssml)).toEqual(['a', 'b', 'c']);
  });

  it('refuses a request without credentials when it requires them, and needs none when told', async () => {
    const error = await new MemorySynthesizer()
      .synthesize({ ssml: 'x', audition: AUDITION })
      .whole.catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'SynthesisError', failure: 'failed' });
    const keyless = new MemorySynthesizer({ requiresCredentials: false, provider: 'local' });
    expect((await keyless.synthesize({ ssml: 'x', audition: AUDITION }).whole).audio.length).toBeGreaterThan(0);
    expect(keyless.provider).toBe('local');
  });

  it('holds every synthesis until released, counting those in flight', async () => {
    const synthesizer = new MemorySynthesizer();
    synthesizer.hold();
    let done = 0;
    const all = [1, 2, 3].map((i) => synthesizer.synthesize(ask(`s${i}`)).whole.then(() => done++));
    await synthesizer.waitForCalls(3);
    expect(synthesizer.inFlight).toBe(3);
    expect(done).toBe(0);

    synthesizer.release();
    await Promise.all(all);
    expect(done).toBe(3);
    expect({ inFlight: synthesizer.inFlight, maxInFlight: synthesizer.maxInFlight }).toEqual({
      inFlight: 0,
      maxInFlight: 3,
    });
    // Released for good: the next one runs at once.
    expect((await synthesizer.synthesize(ask('after')).whole).audio.length).toBeGreaterThan(0);
  });

  it('answers after its latency, on the timers', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const synthesizer = new MemorySynthesizer({ latencyMs: 5_000 });
    await synthesizer.audio(); // the tone, encoded before the clock is frozen in place
    let answered = false;
    const pending = synthesizer.synthesize(ask('slow')).whole.then(() => (answered = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(answered).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(answered).toBe(true);
  });

  it('returns the audio it was given, in pieces of the size asked, each caller with its own copy', async () => {
    const audio = await encodeToneMp3(0.5, 220);
    const synthesizer = new MemorySynthesizer({ audio, chunkBytes: 1000 });
    const synthesis = synthesizer.synthesize(ask('x'));
    const chunks = (await piecesOf(synthesis)).map((piece) => piece.bytes);
    const result = await synthesis.whole;
    expect(result.audio.equals(audio)).toBe(true);
    expect(chunks.map((c) => c.length)).toEqual(
      Array.from({ length: Math.ceil(audio.length / 1000) }, (_, i) => Math.min(1000, audio.length - i * 1000)),
    );
    result.audio.fill(0);
    expect((await synthesizer.synthesize(ask('y')).whole).audio.equals(audio)).toBe(true);
  });

  it('records prepared credentials and closes', () => {
    const synthesizer = new MemorySynthesizer();
    synthesizer.prepare({ key: 'k1', region: 'eastus' });
    synthesizer.close();
    expect(synthesizer.prepared).toEqual([{ key: 'k1', region: 'eastus' }]);
    expect(synthesizer.closed).toBe(1);
  });
});
