import type { InventoryVoice } from '../domain/voice-inventory.ts';
import type { SpeechCredentials } from './synthesizer.ts';

/** The speech service's own list of the voices a region offers (Azure: `voices/list`). */
export interface VoiceList {
  /**
   * The region's standard neural voices, each with the locale its name gives. Throws on any
   * failure (a refused key, an error status, an answer that is not a voice list, no answer in
   * time), with a message that never holds the key.
   */
  list(credentials: SpeechCredentials): Promise<InventoryVoice[]>;
}
