import { voiceLocale } from '../domain/audition.ts';
import type { InventoryVoice } from '../domain/voice-inventory.ts';
import type { SpeechCredentials } from '../ports/synthesizer.ts';
import type { VoiceList } from '../ports/voice-list.ts';

const PATH = '/cognitiveservices/voices/list';

export interface AzureVoiceListOptions {
  /** AZURE_SPEECH_HOST (`ws://…` or `wss://…`): asked instead of the region's endpoint. */
  host?: string;
  /** The whole request, answer read: a list that does not come in time is a failed one. */
  timeoutMs: number;
}

/** An entry of Azure's voices/list answer, as far as it is read here. */
interface AzureVoiceEntry {
  ShortName?: unknown;
  Locale?: unknown;
  VoiceType?: unknown;
}

/**
 * Azure Speech's `GET /cognitiveservices/voices/list` of a region (or of the configured host),
 * with the project's key. Keeps the standard neural voices: `VoiceType` Neural, no `:` variant
 * (HD), a name the audition path accepts; each with the locale its name gives (voiceLocale), which
 * is Azure's `Locale` except for the Chinese dialect voices (zh-CN-henan-YundengNeural: zh-CN, not
 * zh-CN-henan), so that a voice prewarmed is the same cache entry as the same voice auditioned.
 */
export class AzureVoiceList implements VoiceList {
  readonly #host: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: AzureVoiceListOptions) {
    this.#host = options.host;
    this.#timeoutMs = options.timeoutMs;
  }

  async list(credentials: SpeechCredentials): Promise<InventoryVoice[]> {
    const url = this.#url(credentials);
    let response: Response;
    let body: unknown;
    try {
      response = await fetch(url, {
        headers: { 'Ocp-Apim-Subscription-Key': credentials.key },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      body = response.ok ? await response.json() : undefined;
      if (!response.ok) await response.body?.cancel();
    } catch (error) {
      // The key travels in a header only: neither the URL nor these messages hold it.
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${this.#timeoutMs} ms`
          : error instanceof Error
            ? error.message
            : 'failed';
      throw new Error(`voices/list of ${url.host}: ${reason}`, { cause: error });
    }
    if (!response.ok) throw new Error(`voices/list of ${url.host} answered ${response.status}`);
    if (!Array.isArray(body)) throw new Error(`voices/list of ${url.host} answered something that is not a list`);
    return neuralVoices(body as AzureVoiceEntry[]);
  }

  #url({ region }: SpeechCredentials): URL {
    if (this.#host) return new URL(PATH, this.#host.replace(/^ws(s?):/i, 'http$1:'));
    if (!region || !/^[a-z0-9-]+$/i.test(region)) throw new Error('voices/list needs the Speech key’s region');
    return new URL(`https://${region}.tts.speech.microsoft.com${PATH}`);
  }
}

function neuralVoices(entries: readonly AzureVoiceEntry[]): InventoryVoice[] {
  const voices: InventoryVoice[] = [];
  for (const entry of entries) {
    const name = entry?.ShortName;
    if (entry?.VoiceType !== 'Neural' || typeof name !== 'string' || name.includes(':')) continue;
    const locale = voiceLocale(name);
    if (locale !== undefined) voices.push({ name, locale });
  }
  return voices;
}
