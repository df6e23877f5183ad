import { SHIPPED_VOICES, type InventoryVoice } from '../../src/domain/voice-inventory.ts';
import type { SpeechCredentials } from '../../src/ports/synthesizer.ts';
import type { VoiceList } from '../../src/ports/voice-list.ts';

/** What the twin's service answers: these voices, this status, or nothing ever (cut by the deadline). */
export type MemoryVoiceListAnswer = readonly InventoryVoice[] | { status: number } | 'hang';

/**
 * VoiceList in memory, behaving as AzureVoiceList against the speech stand-in: the shipped
 * inventory until told otherwise, a status as a failure, a hang cut by its deadline (on the
 * timers), every request's credentials recorded. `hold()` keeps answers back until `release()`.
 */
export class MemoryVoiceList implements VoiceList {
  readonly requests: SpeechCredentials[] = [];
  readonly timeoutMs: number;
  #answer: MemoryVoiceListAnswer;
  #held: (() => void)[] | undefined;

  constructor(options: { voices?: readonly InventoryVoice[]; timeoutMs?: number } = {}) {
    this.#answer = options.voices ?? SHIPPED_VOICES;
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** What the next requests get. */
  answer(next: MemoryVoiceListAnswer): void {
    this.#answer = next;
  }

  /** Requests wait (in flight) until release(). */
  hold(): void {
    this.#held ??= [];
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const go of held) go();
  }

  get waiting(): number {
    return this.#held?.length ?? 0;
  }

  async list(credentials: SpeechCredentials): Promise<InventoryVoice[]> {
    this.requests.push({ ...credentials });
    const answer = this.#answer;
    if (this.#held) await new Promise<void>((resolve) => this.#held!.push(resolve));
    if (answer === 'hang') {
      await new Promise((resolve) => setTimeout(resolve, this.timeoutMs));
      throw new Error(`voices/list of the twin: no answer within ${this.timeoutMs} ms`);
    }
    if (!credentials.key) throw new Error('voices/list of the twin answered 401');
    if ('status' in answer) throw new Error(`voices/list of the twin answered ${answer.status}`);
    return answer.map((voice) => ({ ...voice }));
  }
}
