import { parseBuffer } from 'music-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildSsml } from '../../src/audition/ssml.ts';
import {
  SynthesisError,
  type SpeechCredentials,
  type SynthesisRequest,
  type Synthesizer,
} from '../../src/ports/synthesizer.ts';
import { testAudition } from '../support/auditions.ts';
import { piecesOf } from '../support/synthesis-pieces.ts';

export interface SynthesizerUnderTest {
  synthesizer: Synthesizer;
  /** Credentials the engine accepts: sent with every request when it requires any. */
  credentials: SpeechCredentials;
  /**
   * What reached the engine since this harness was made, in order: the SSML and its key. Null
   * for an engine that is given the audition instead of the SSML (one that does not speak SSML).
   */
  received: (() => { ssml: string; key: string | undefined }[]) | null;
  /** The next synthesis is refused as a rejected key is (401). Null for an engine that takes no key. */
  refuseCredentialsNext: (() => void) | null;
  /** The next synthesis is refused as throttled (429). Null for an engine with no quota to exceed (one on this machine). */
  throttleNext: (() => void) | null;
}

/** What the engine can do; each defaults to true. */
export interface SynthesizerCapabilities {
  /** It is given the SSML (false: the audition, as an engine that does not speak SSML is; `received` is null). */
  speaksSsml?: boolean;
  /** It gives the audio back in pieces as it produces it (`started` is `streaming` at the first). */
  streams?: boolean;
  /** It takes a key, which its service can refuse (false: `refuseCredentialsNext` is null). */
  takesKeys?: boolean;
  /** Its service has a quota and throttles (false: `throttleNext` is null). */
  throttles?: boolean;
}

const audition = testAudition;

/** MPEG audio starts with an ID3 tag or a frame sync (11 set bits). */
const looksLikeMp3 = (audio: Buffer) =>
  audio.subarray(0, 3).toString('latin1') === 'ID3' || (audio[0] === 0xff && ((audio[1] ?? 0) & 0xe0) === 0xe0);

/**
 * The behaviour the audition service relies on from any Synthesizer, run against every
 * adapter: the same suite proves the in-memory twin, AzureSpeechSynthesizer (the real Speech
 * SDK against the protocol stand-in) and LocalSpeechSynthesizer (eSpeak NG) agree. What an
 * engine cannot do (stream, take a key, be throttled, be watched) is stated by its harness, and
 * the suite then asserts what the port promises of such an engine instead.
 */
export function describeSynthesizerContract(
  name: string,
  create: () => Promise<SynthesizerUnderTest>,
  { speaksSsml = true, streams = true, takesKeys = true, throttles = true }: SynthesizerCapabilities = {},
): void {
  describe(`Synthesizer contract: ${name}`, () => {
    let under: SynthesizerUnderTest;
    let synthesizer: Synthesizer;
    beforeEach(async () => {
      under = await create();
      ({ synthesizer } = under);
    });
    afterEach(() => synthesizer.close?.());

    const request = (text: string): SynthesisRequest => ({
      ssml: buildSsml(audition(text)),
      audition: audition(text),
      credentials: synthesizer.requiresCredentials ? under.credentials : undefined,
    });
    const wholeOf = (text: string) => synthesizer.synthesize(request(text)).whole;
    const failureOf = async (text: string) => {
      const synthesis = synthesizer.synthesize(request(text));
      const [pieces, error, startError] = await Promise.all([
        piecesOf(synthesis),
        synthesis.whole.catch((e: unknown) => e),
        synthesis.started.catch((e: unknown) => e),
      ]);
      expect(error).toBeInstanceOf(SynthesisError);
      expect(startError).toBe(error); // it never started: the failure is the one it gives
      expect(pieces).toEqual([]); // no audio of a refused request reaches a reader
      return (error as SynthesisError).failure;
    };

    it('names its engine and output format with stable strings fit for a cache key', async () => {
      const { synthesizer: again } = await create();
      const cacheKeyPart = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
      expect(synthesizer.provider).toMatch(cacheKeyPart);
      expect(synthesizer.outputFormat).toMatch(cacheKeyPart);
      expect(synthesizer.outputFormat).toMatch(/mp3/);
      expect(typeof synthesizer.requiresCredentials).toBe('boolean');
      expect({
        provider: again.provider,
        outputFormat: again.outputFormat,
        requiresCredentials: again.requiresCredentials,
      }).toEqual({
        provider: synthesizer.provider,
        outputFormat: synthesizer.outputFormat,
        requiresCredentials: synthesizer.requiresCredentials,
      });
      again.close?.();
    });

    it('returns a non-empty MP3', async () => {
      const { audio } = await wholeOf('Hola');
      expect(audio.length).toBeGreaterThan(0);
      expect(looksLikeMp3(audio)).toBe(true);
      const { format } = await parseBuffer(audio, { mimeType: 'audio/mpeg' }, { duration: true });
      expect(format.container).toMatch(/MPEG/);
      expect(format.duration).toBeGreaterThan(0);
    });

    if (speaksSsml) {
      it('sends the engine exactly the SSML it was given, with the key', async () => {
        const first = request('Tom & Jerry </voice> <b>');
        const second = request('Año, niño, corazón');
        await synthesizer.synthesize(first).whole;
        await synthesizer.synthesize(second).whole;
        const key = synthesizer.requiresCredentials ? under.credentials.key : undefined;
        expect(under.received!()).toEqual([
          { ssml: first.ssml, key },
          { ssml: second.ssml, key },
        ]);
      });
    } else {
      it('speaks the audition it was given: the SSML beside it changes nothing, another line changes the audio', async () => {
        const { audio } = await wholeOf('Año, niño, corazón');
        const { audio: again } = await synthesizer.synthesize({
          ...request('Año, niño, corazón'),
          ssml: request('Tom & Jerry').ssml,
        }).whole;
        const { audio: other } = await wholeOf('Tom & Jerry </voice> <b>');
        expect(again.equals(audio)).toBe(true);
        expect(other.equals(audio)).toBe(false);
      });
    }

    if (streams) {
      it('gives the audio back in pieces, in order, from the first on (`streaming`): together they are the whole', async () => {
        const synthesis = synthesizer.synthesize(request('Hola'));
        let settledYet = false;
        void synthesis.whole.then(() => (settledYet = true));
        const started = synthesis.started.then((how) => ({ how, wholeYet: settledYet }));
        const pieces = (await piecesOf(synthesis)).map((piece) => piece.bytes);
        const result = await synthesis.whole;
        expect(await started).toEqual({ how: 'streaming', wholeYet: false });
        expect(pieces.length).toBeGreaterThan(0);
        expect(pieces.every((piece) => piece.length > 0)).toBe(true);
        expect(Buffer.concat(pieces).equals(result.audio)).toBe(true);
      });
    } else {
      it('gives the whole audio at the end, as one piece (`whole`: it cannot stream)', async () => {
        const synthesis = synthesizer.synthesize(request('Hola'));
        expect(await synthesis.started).toBe('whole');
        const pieces = (await piecesOf(synthesis)).map((piece) => piece.bytes);
        const result = await synthesis.whole;
        expect(pieces).toHaveLength(1);
        expect(pieces[0]!.equals(result.audio)).toBe(true);
        expect(looksLikeMp3(result.audio)).toBe(true);
      });
    }

    it('goes on to the whole audio when its reader cancels (a caller that went away)', async () => {
      const synthesis = synthesizer.synthesize(request('Hola'));
      await synthesis.started;
      await synthesis.audio.cancel();
      expect(looksLikeMp3((await synthesis.whole).audio)).toBe(true);
    });

    it('answers several syntheses at once, each with its own whole audio', async () => {
      const texts = ['Uno', 'Dos', 'Tres'];
      const syntheses = texts.map((text) => synthesizer.synthesize(request(text)));
      const pieces = await Promise.all(syntheses.map(piecesOf));
      const results = await Promise.all(syntheses.map((synthesis) => synthesis.whole));
      for (const [i, result] of results.entries()) {
        expect(looksLikeMp3(result.audio)).toBe(true);
        expect(Buffer.concat(pieces[i]!.map((piece) => piece.bytes)).equals(result.audio)).toBe(true);
      }
      if (!speaksSsml) {
        // Each answer is its own line's audio: the same as that line synthesized alone.
        for (const [i, text] of texts.entries())
          expect(results[i]!.audio.equals((await wholeOf(text)).audio)).toBe(true);
        return;
      }
      expect(
        under.received!()
          .map(({ ssml }) => ssml)
          .sort(),
      ).toEqual(texts.map((text) => request(text).ssml).sort());
    });

    if (takesKeys) {
      it('reports a refused key as credentials-rejected', async () => {
        under.refuseCredentialsNext!();
        expect(await failureOf('Hola')).toBe('credentials-rejected');
      });
    } else {
      it('takes no key: it asks for none, and synthesizes with none', async () => {
        expect(synthesizer.requiresCredentials).toBe(false);
        const synthesis = synthesizer.synthesize({ ...request('Hola'), credentials: undefined });
        expect(looksLikeMp3((await synthesis.whole).audio)).toBe(true);
      });
    }

    // An engine with no quota (one on this machine) has nothing that can throttle it.
    if (throttles) {
      it('reports throttling as throttled', async () => {
        under.throttleNext!();
        expect(await failureOf('Hola')).toBe('throttled');
      });
    }
  });
}
