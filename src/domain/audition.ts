/** One audition, normalised: what decides the audio, with every default folded in. */
export interface Audition {
  /** Azure voice name, e.g. `es-AR-ElenaNeural`. */
  voice: string;
  /** The voice's locale, e.g. `es-AR` (the SSML's xml:lang). */
  locale: string;
  /** NFC, trimmed, whitespace runs collapsed to one space. */
  text: string;
  /** null = the voice's default speaking style. */
  style: string | null;
  /** 1 unless a style is set (without a style it changes nothing). */
  styleDegree: number;
  ratePct: number;
  pitchPct: number;
}

export const MAX_VOICE_LENGTH = 100;

// Locale (language, optional script, region) then the voice's name, optionally `:variant`:
// es-AR-ElenaNeural, zh-CN-henan-YundengNeural, sr-Latn-RS-NicholasNeural,
// en-US-Andrew:DragonHDLatestNeural.
const VOICE_NAME = /^([a-z]{2,3}(?:-[A-Z][a-z]{3})?-[A-Z]{2})-([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?::[A-Za-z0-9]+)?$/;
/** Whether `voice` is an Azure voice name (as the audition body's `voice` must be). */
export function isVoiceName(voice: string): boolean {
  return voiceLocale(voice) !== undefined;
}

/** The locale of an Azure voice name (`es-AR` of `es-AR-ElenaNeural`); undefined when it is not one. */
export function voiceLocale(voice: string): string | undefined {
  return voice.length <= MAX_VOICE_LENGTH ? VOICE_NAME.exec(voice)?.[1] : undefined;
}

/**
 * The audition's `voice_settings` as a row stores them (the guide's names). The cache key's
 * backfill migration recomputes keys from exactly these fields, so they change together.
 */
export function voiceSettingsOf(audition: Audition, engine: { provider: string; outputFormat: string }): Record<string, string | number> {
  return {
    style: audition.style ?? 'none',
    styledegree: audition.styleDegree,
    rate_pct: audition.ratePct,
    pitch_pct: audition.pitchPct,
    provider: engine.provider,
    output_format: engine.outputFormat,
  };
}
