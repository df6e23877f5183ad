import { defaultAuditionLine } from './default-audition-line.ts';

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
const MAX_TEXT_LENGTH = 5_000;

const STYLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,49}$/;
/** Spellings of "no style": the voice's default speaking style, one cache entry. */
const NO_STYLE = new Set(['', 'none', 'general', 'default']);
// Characters no text means to speak, refused before any synthesis: control characters
// (category Cc: C0, DEL and the C1 controls, which in a text are most often Windows-1252 read
// as Latin-1: U+0085 for "…", U+0092 for "’"), lone surrogates (Cs: broken UTF-16, which XML
// cannot carry, so the speech service would reject the SSML) and noncharacters (U+FDD0–U+FDEF,
// U+xFFFE/U+xFFFF). Tabs, line breaks and other whitespace are collapsed to spaces before this
// check (normalizeText); NEL is a control here, as JavaScript's \s leaves it out.
const UNSPEAKABLE = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;

/** What a request asked for, validated, before the defaults are folded in. */
export interface AuditionChoice {
  voice: string;
  locale: string;
  /** Normalised (normalizeText); undefined: the voice's default audition line. */
  text: string | undefined;
  /** Normalised (normalizeStyle). */
  style: string | null;
  styleDegree?: number;
  ratePct?: number;
  pitchPct?: number;
}

/**
 * The audition a choice means, every default folded in, so that every spelling of one
 * audition is one cache entry: no text is the voice's default line, no style ignores the
 * style degree, rate and pitch default to 0, rate and pitch are rounded to whole percents and
 * the style degree to hundredths (and -0 is 0).
 */
export function auditionOf(choice: AuditionChoice): Audition {
  const { voice, locale, style } = choice;
  return {
    voice,
    locale,
    text: choice.text ?? defaultAuditionLine(voice, locale),
    style,
    styleDegree: style === null ? 1 : roundTo(choice.styleDegree ?? 1, 100),
    ratePct: roundTo(choice.ratePct ?? 0, 1),
    pitchPct: roundTo(choice.pitchPct ?? 0, 1),
  };
}

/**
 * `value` to the nearest multiple of 1/`per` (halves up, as Math.round). Without it every decimal
 * spelling of one setting (`10`, `10.000001`, …) would be a cache key of its own: an unbounded
 * number of guaranteed misses, each one billed. `+ 0` turns -0 into 0 (the same key).
 */
function roundTo(value: number, per: number): number {
  return Math.round(value * per) / per + 0;
}

/**
 * Whether the audition is a voice's default line as the casting page asks for it (body `{}`): the default text, no
 * style, rate or pitch. What predictive prewarm starts from and synthesizes for the other voices.
 */
export function isDefaultLineAudition(audition: Audition): boolean {
  return (
    audition.style === null &&
    audition.ratePct === 0 &&
    audition.pitchPct === 0 &&
    audition.text === defaultAuditionLine(audition.voice, audition.locale)
  );
}

/** NFC, trimmed, whitespace runs collapsed to one space: one entry for every spelling. */
export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

/** Why a (normalised) text cannot be spoken, or undefined when it can. */
export function textProblem(text: string): string | undefined {
  if (text.length === 0) return 'must not be empty';
  if (text.length > MAX_TEXT_LENGTH) return `must be at most ${MAX_TEXT_LENGTH} characters`;
  const unspeakable = UNSPEAKABLE.exec(text)?.[0];
  if (unspeakable !== undefined) {
    const codePoint = `U+${unspeakable.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return (
      `contains ${codePoint}, which cannot be spoken ` +
      '(control characters, broken Unicode and noncharacters are refused)'
    );
  }
  return undefined;
}

/** A style as the key holds it: lower case; null for the voice's default style. */
export function normalizeStyle(style: string): string | null {
  const name = style.trim().toLowerCase();
  return NO_STYLE.has(name) ? null : name;
}

/** Why a (normalised) style is not a speaking style name, or undefined when it is. */
export function styleProblem(style: string | null): string | undefined {
  return style === null || STYLE_NAME.test(style) ? undefined : 'must be a speaking style name such as cheerful';
}

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
export function voiceSettingsOf(
  audition: Audition,
  engine: { provider: string; outputFormat: string },
): Record<string, string | number> {
  return {
    style: audition.style ?? 'none',
    styledegree: audition.styleDegree,
    rate_pct: audition.ratePct,
    pitch_pct: audition.pitchPct,
    provider: engine.provider,
    output_format: engine.outputFormat,
  };
}
