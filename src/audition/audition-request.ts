import { z } from 'zod';
import { AppError, type FieldError } from '../errors.ts';

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

export const MAX_TEXT_LENGTH = 5_000;
const MAX_VOICE_LENGTH = 100;

// Locale (language, optional script, region) then the voice's name, optionally `:variant`:
// es-AR-ElenaNeural, zh-CN-henan-YundengNeural, sr-Latn-RS-NicholasNeural,
// en-US-Andrew:DragonHDLatestNeural.
const VOICE_NAME = /^([a-z]{2,3}(?:-[A-Z][a-z]{3})?-[A-Z]{2})-([A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?::[A-Za-z0-9]+)?$/;
const STYLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,49}$/;
/** Whether `voice` is an Azure voice name (as the audition body's `voice` must be). */
export function isVoiceName(voice: string): boolean {
  return voice.length <= MAX_VOICE_LENGTH && VOICE_NAME.test(voice);
}
const NO_STYLE = new Set(['', 'none', 'general', 'default']);
// Characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF): SSML holding
// them is rejected by the speech service, so they are refused here, before any synthesis.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** `null` means absent for every optional field (the web client sends nulls). */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((value) => value ?? undefined);
const finite = (message: string) => z.number({ error: message }).finite({ error: message });

const bodySchema = z.looseObject({
  voice: z.union(
    [
      z.string({ error: 'must be a voice name or a voice object' }),
      z.looseObject({ id: z.string({ error: 'must be a voice name' }) }),
    ],
    { error: 'must be a voice name (string) or a voice object with an id' },
  ),
  text: z.string({ error: 'is required and must be a string' }),
  style: optional(z.string({ error: 'must be a string' })),
  styledegree: optional(finite('must be a number from 0.01 to 2').min(0.01).max(2)),
  rate_pct: optional(finite('must be a number from -100 to 200').min(-100).max(200)),
  pitch_pct: optional(finite('must be a number from -50 to 50').min(-50).max(50)),
});

/**
 * Validates an audition request body, in either shape the callers send (voice as a name, or
 * as the khipu-web voice object), into an Audition. Throws a 400 AppError naming each field.
 */
export function parseAuditionBody(body: unknown): Audition {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid([{ field: '(body)', message: 'must be a JSON object' }]);
  }
  const parsed = bodySchema.safeParse(body);
  const errors: FieldError[] = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.join('.') : '(body)',
        message: rangeMessage(issue),
      }));
  if (!parsed.success) throw invalid(errors);
  const input = parsed.data;

  const voiceField = typeof input.voice === 'string' ? 'voice' : 'voice.id';
  const voice = (typeof input.voice === 'string' ? input.voice : input.voice.id).trim();
  const voiceMatch = voice.length <= MAX_VOICE_LENGTH ? VOICE_NAME.exec(voice) : null;
  if (!voiceMatch) {
    errors.push({
      field: voiceField,
      message: `must be an Azure voice name such as es-AR-ElenaNeural (at most ${MAX_VOICE_LENGTH} characters)`,
    });
  }

  const text = normalizeText(input.text);
  if (text.length === 0) errors.push({ field: 'text', message: 'must not be empty' });
  else if (text.length > MAX_TEXT_LENGTH) errors.push({ field: 'text', message: `must be at most ${MAX_TEXT_LENGTH} characters` });
  else if (NOT_XML_CHAR.test(text)) errors.push({ field: 'text', message: 'contains characters that cannot be spoken (control characters or broken Unicode)' });

  const rawStyle = (input.style ?? '').trim().toLowerCase();
  const style = NO_STYLE.has(rawStyle) ? null : rawStyle;
  if (style !== null && !STYLE_NAME.test(style)) {
    errors.push({ field: 'style', message: 'must be a speaking style name such as cheerful' });
  }
  if (errors.length > 0) throw invalid(errors);

  return {
    voice,
    locale: voiceMatch![1]!,
    text,
    style,
    styleDegree: style === null ? 1 : (input.styledegree ?? 1),
    // `+ 0` turns -0 into 0: the same audition must give the same cache key.
    ratePct: (input.rate_pct ?? 0) + 0,
    pitchPct: (input.pitch_pct ?? 0) + 0,
  };
}

export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

function rangeMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    const field = String(issue.path[0]);
    const ranges: Record<string, string> = {
      styledegree: 'must be a number from 0.01 to 2',
      rate_pct: 'must be a number from -100 to 200',
      pitch_pct: 'must be a number from -50 to 50',
    };
    return ranges[field] ?? issue.message;
  }
  return issue.message;
}

function invalid(errors: FieldError[]): AppError {
  const fields = [...new Set(errors.map((e) => e.field))].join(', ');
  return new AppError('invalid-request', `Invalid audition request: ${fields}`, { errors });
}
