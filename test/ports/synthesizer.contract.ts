import { parseBuffer } from 'music-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSsml } from '../../src/audition/ssml.ts';
import { SynthesisError, type SpeechCredentials, type SynthesisRequest, type Synthesizer } from '../../src/ports/synthesizer.ts';
import { testAudition } from '../support/auditions.ts';

export interface SynthesizerUnderTest {
  synthesizer: Synthesizer;
  /** Credentials the engine accepts: sent with every request when it requires any. */
  credentials: SpeechCredentials;
  /** What reached the engine since this harness was made, in order: the SSML and its key. */
  received(): { ssml: string; key: string | undefined }[];
  /** The next synthesis is refused as a rejected key is (401). */
  refuseCredentialsNext(): void;
  /** The next synthesis is refused as throttled (429). */
  throttleNext(): void;
}

const audition = testAudition;

/** MPEG audio starts with an ID3 tag or a frame sync (11 set bits). */
const looksLikeMp3 = (audio: Buffer) => audio.subarray(0, 3).toString('latin1') === 'ID3' || (audio[0] === 0xff && ((audio[1] ?? 0) & 0xe0) === 0xe0);

/**
 * The behaviour the audition service relies on from any Synthesizer, run against every
 * adapter: the same suite proves the in-memory twin and AzureSpeechSynthesizer (the real
 * Speech SDK against the protocol stand-in) agree.
 */
export function describeSynthesizerContract(name: string, create: () => Promise<SynthesizerUnderTest>): void {
  describe(`Synthesizer contract: ${name}`, () => {
    let under: SynthesizerUnderTest;
    let synthesizer: Synthesizer;
    beforeEach(async () => {
      under = await create();
      ({ synthesizer } = under);
    });
    afterEach(() => synthesizer.close?.());

    const request = (text: string, onAudio?: (chunk: Buffer) => void): SynthesisRequest => ({
      ssml: buildSsml(audition(text)),
      audition: audition(text),
      credentials: synthesizer.requiresCredentials ? under.credentials : undefined,
      onAudio,
    });
    const failureOf = async (text: string) => {
      const chunks: Buffer[] = [];
      const error = await synthesizer.synthesize(request(text, (chunk) => chunks.push(chunk))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SynthesisError);
      expect(chunks).toEqual([]); // no audio of a refused request reaches a listener
      return (error as SynthesisError).failure;
    };

    it('names its engine and output format with stable strings fit for a cache key', async () => {
      const { synthesizer: again } = await create();
      const cacheKeyPart = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
      expect(synthesizer.provider).toMatch(cacheKeyPart);
      expect(synthesizer.outputFormat).toMatch(cacheKeyPart);
      expect(synthesizer.outputFormat).toMatch(/mp3/);
      expect(typeof synthesizer.requiresCredentials).toBe('boolean');
      expect({ provider: again.provider, outputFormat: again.outputFormat, requiresCredentials: again.requiresCredentials }).toEqual({
        provider: synthesizer.provider,
        outputFormat: synthesizer.outputFormat,
        requiresCredentials: synthesizer.requiresCredentials,
      });
      again.close?.();
    });

    it('returns a non-empty MP3', async () => {
      const { audio } = await synthesizer.synthesize(request('Hola'));
      expect(audio.length).toBeGreaterThan(0);
      expect(looksLikeMp3(audio)).toBe(true);
      const { format } = await parseBuffer(audio, { mimeType: 'audio/mpeg' }, { duration: true });
      expect(format.container).toMatch(/MPEG/);
      expect(format.duration).toBeGreaterThan(0);
    });

    it('sends the engine exactly the SSML it was given, with the key', async () => {
      const first = request('Tom & Jerry </voice> <b>');
      const second = request('Año, niño, corazón');
      await synthesizer.synthesize(first);
      await synthesizer.synthesize(second);
      const key = synthesizer.requiresCredentials ? under.credentials.key : undefined;
      expect(under.received()).toEqual([
        { ssml: first.ssml, key },
        { ssml: second.ssml, key },
      ]);
    });

    it('hands over the audio in pieces, in order, before it resolves: together they are the whole', async () => {
      const chunks: Buffer[] = [];
      let settled = false;
      let lateChunks = 0;
      const result = await synthesizer
        .synthesize(
          request('Hola', (chunk) => {
            if (settled) lateChunks++;
            chunks.push(chunk);
          }),
        )
        .finally(() => (settled = true));
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.every((chunk) => chunk.length > 0)).toBe(true);
      expect(Buffer.concat(chunks).equals(result.audio)).toBe(true);
      expect(lateChunks).toBe(0);
    });

    it('answers several syntheses at once, each with its own whole audio', async () => {
      const texts = ['Uno', 'Dos', 'Tres'];
      const chunks = texts.map((): Buffer[] => []);
      const results = await Promise.all(texts.map((text, i) => synthesizer.synthesize(request(text, (chunk) => chunks[i]!.push(chunk)))));
      for (const [i, result] of results.entries()) {
        expect(looksLikeMp3(result.audio)).toBe(true);
        expect(Buffer.concat(chunks[i]!).equals(result.audio)).toBe(true);
      }
      expect(
        under
          .received()
          .map(({ ssml }) => ssml)
          .sort(),
      ).toEqual(texts.map((text) => request(text).ssml).sort());
    });

    it('reports a refused key as credentials-rejected', async () => {
      under.refuseCredentialsNext();
      expect(await failureOf('Hola')).toBe('credentials-rejected');
    });

    it('reports throttling as throttled', async () => {
      under.throttleNext();
      expect(await failureOf('Hola')).toBe('throttled');
    });
  });
}
