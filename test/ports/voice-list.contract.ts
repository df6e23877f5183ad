import { beforeEach, describe, expect, it } from 'vitest';
import { voiceLocale } from '../../src/domain/audition.ts';
import { SHIPPED_VOICES, type InventoryVoice } from '../../src/domain/voice-inventory.ts';
import type { SpeechCredentials } from '../../src/ports/synthesizer.ts';
import type { VoiceList } from '../../src/ports/voice-list.ts';

export interface VoiceListUnderTest {
  voiceList: VoiceList;
  /** Credentials the service accepts. */
  credentials: SpeechCredentials;
  /** What the service answers next: these voices, this status, or nothing ever. */
  answer(next: readonly InventoryVoice[] | { status: number } | 'hang'): void;
  /** The key of each request the service received since this harness was made, in order. */
  keys(): (string | undefined)[];
  /** The deadline the voice list was given. */
  timeoutMs: number;
}

const SAMPLE: InventoryVoice[] = [
  { name: 'es-PE-CamilaNeural', locale: 'es-PE' },
  { name: 'es-PE-AlexNeural', locale: 'es-PE' },
  { name: 'sr-Latn-RS-SophieNeural', locale: 'sr-Latn-RS' },
  { name: 'zh-CN-henan-YundengNeural', locale: 'zh-CN' },
  { name: 'en-US-AvaMultilingualNeural', locale: 'en-US' },
];

/**
 * What the voice inventory relies on from any VoiceList, run against AzureVoiceList (real HTTP
 * to the speech stand-in) and the in-memory twin: the region's voices with the key sent, and every
 * failure, a hang included, a rejection in time whose message never holds the key.
 */
export function describeVoiceListContract(name: string, create: () => Promise<VoiceListUnderTest>): void {
  describe(`VoiceList contract: ${name}`, () => {
    let under: VoiceListUnderTest;
    beforeEach(async () => {
      under = await create();
    });

    const failure = async () => {
      const error = await under.voiceList.list(under.credentials).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toContain(under.credentials.key);
      return error as Error;
    };

    it('answers the voices the service lists, in its order, each with the locale of its name, sending the key', async () => {
      under.answer(SAMPLE);
      expect(await under.voiceList.list(under.credentials)).toEqual(SAMPLE);
      expect(under.keys()).toEqual([under.credentials.key]);
    });

    it('answers a whole list (the shipped inventory) voice for voice', async () => {
      under.answer(SHIPPED_VOICES);
      const voices = await under.voiceList.list(under.credentials);
      expect(voices).toEqual(SHIPPED_VOICES);
      for (const voice of voices) expect(voiceLocale(voice.name)).toBe(voice.locale);
    });

    it('answers an empty list as an empty list', async () => {
      under.answer([]);
      expect(await under.voiceList.list(under.credentials)).toEqual([]);
    });

    it('throws when the service refuses the key, throttles or fails, never naming the key', async () => {
      for (const status of [401, 403, 429, 500, 503]) {
        under.answer({ status });
        expect((await failure()).message).toContain(String(status));
      }
    });

    it('throws when a request carries no key', async () => {
      under.answer(SAMPLE);
      await expect(under.voiceList.list({ ...under.credentials, key: '' })).rejects.toThrow();
    });

    it('throws when the service never answers, once its deadline has passed', async () => {
      under.answer('hang');
      const started = performance.now();
      await failure();
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(under.timeoutMs - 20);
      expect(waited).toBeLessThan(under.timeoutMs + 2_000);
    });
  });
}
