import { parseBuffer } from 'music-metadata';
import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { buildSsml } from '../../src/audition/ssml.ts';
import { LocalSpeechSynthesizer } from '../../src/adapters/local-speech-synthesizer.ts';
import { describeSynthesizerContract } from '../ports/synthesizer.contract.ts';

const durationOf = async (audio: Buffer) =>
  (await parseBuffer(audio, { mimeType: 'audio/mpeg' }, { duration: true })).format.duration ?? 0;

describe('LocalSpeechSynthesizer (TTS_PROVIDER=local: eSpeak NG, offline)', () => {
  const synthesizer = new LocalSpeechSynthesizer();
  const speak = (body: Record<string, unknown>) => {
    const audition = parseAuditionBody({ voice: 'es-AR-ElenaNeural', ...body });
    return synthesizer.synthesize({ ssml: buildSsml(audition), audition }).whole;
  };

  it('speaks the line as a real MP3, with no credentials', async () => {
    expect(synthesizer.requiresCredentials).toBe(false);
    const { audio } = await speak({ text: 'Hola, este es un test del cache' });
    const { format } = await parseBuffer(audio, { mimeType: 'audio/mpeg' }, { duration: true });
    expect(format.container).toMatch(/MPEG/);
    expect(format.numberOfChannels).toBe(1);
    expect(format.duration).toBeGreaterThan(1);
  });

  it('speaks faster with a higher rate, and handles markup-like text as text', async () => {
    const normal = await durationOf((await speak({ text: 'Uno, dos, tres, cuatro, cinco, seis, siete.' })).audio);
    const fast = await durationOf(
      (await speak({ text: 'Uno, dos, tres, cuatro, cinco, seis, siete.', rate_pct: 100 })).audio,
    );
    expect(fast).toBeLessThan(normal * 0.8);
    expect(await durationOf((await speak({ text: 'Tom & Jerry </voice> <b>' })).audio)).toBeGreaterThan(0.5);
  });

  it('falls back to a voice it has for a locale it does not know', async () => {
    const { audio } = await speak({ voice: 'xh-ZA-ThandoNeural', text: 'Molo' });
    expect(await durationOf(audio)).toBeGreaterThan(0.2);
  });
});

// eSpeak NG runs in this process: it is given the audition (it does not speak SSML), takes no
// key, has no quota, and answers with the whole MP3 at once.
describeSynthesizerContract(
  'LocalSpeechSynthesizer (eSpeak NG)',
  () =>
    Promise.resolve({
      synthesizer: new LocalSpeechSynthesizer(),
      credentials: { key: 'unused' },
      received: null,
      refuseCredentialsNext: null,
      throttleNext: null,
    }),
  { speaksSsml: false, streams: false, takesKeys: false, throttles: false },
);
