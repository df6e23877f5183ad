import * as z from 'zod/mini';
import { AppError, type FieldError } from '../errors.ts';
import {
  auditionOf,
  MAX_VOICE_LENGTH,
  normalizeStyle,
  normalizeText,
  styleProblem,
  textProblem,
  voiceLocale,
  type Audition,
} from '../domain/audition.ts';

// zod/mini, as in config.ts: a bundle keeps only what is used.

/** `null` means absent for every optional field (the web client sends nulls). */
const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.nullish(schema),
    z.transform((value: z.output<T> | null | undefined) => value ?? undefined),
  );
/** A finite number (NaN and ±Infinity are refused) from `min` to `max`. */
const between = (min: number, max: number) => {
  const message = `must be a number from ${min} to ${max}`;
  return z.number({ error: message }).check(z.minimum(min, message), z.maximum(max, message));
};

const settingsShape = {
  text: optional(z.string({ error: 'must be a string' })),
  style: optional(z.string({ error: 'must be a string' })),
  // The guide's spelling, and the shipped web app's (its voices/{voiceId}/audition route).
  styledegree: optional(between(0.01, 2)),
  style_degree: optional(between(0.01, 2)),
  rate_pct: optional(between(-100, 200)),
  pitch_pct: optional(between(-50, 50)),
};
const voiceSchema = z.union(
  [
    z.string({ error: 'must be a voice name or a voice object' }),
    z.looseObject({ id: z.string({ error: 'must be a voice name' }) }),
  ],
  { error: 'must be a voice name (string) or a voice object with an id' },
);
/** The guide's body (and khipu-web's older one): the voice in the body, `text` required. */
const bodySchema = z.looseObject({
  voice: voiceSchema,
  ...settingsShape,
  text: z.string({ error: 'is required and must be a string' }),
});
/** A prewarm item: the voice in the item, `text` optional (the voice's default line). */
const itemSchema = z.looseObject({ voice: voiceSchema, ...settingsShape });
/** The live route's body (all optional; the casting page sends `{}`): the voice is in the path. */
const voiceRouteSchema = z.looseObject(settingsShape);

type Settings = Partial<z.infer<typeof voiceRouteSchema>>;

/**
 * Validates an audition request body, in either shape the callers send (voice as a name, or
 * as the khipu-web voice object), into an Audition. Throws a 400 AppError naming each field.
 */
export function parseAuditionBody(body: unknown): Audition {
  const input = parseObject(bodySchema, body);
  return toAudition(input.voice, input, { textRequired: true });
}

/** A prewarm item: the guide's body, or the live route's body with its `voice`; text optional (or blank). */
export function parsePrewarmItem(item: unknown): Audition {
  const input = parseObject(itemSchema, item);
  return toAudition(input.voice, input, { textRequired: false });
}

/**
 * The live route, `POST /projects/{projectId}/voices/{voiceId}/audition`: the voice from the
 * path (validated like a body's), the body optional (`undefined`: none was sent). Without a
 * text, or with a blank one, the voice's default audition line is spoken
 * (default-audition-lines.json).
 */
export function parseVoiceAudition(voiceId: string, body: unknown): Audition {
  const input = body === undefined ? {} : parseObject(voiceRouteSchema, body);
  return toAudition(voiceId, input, { textRequired: false, voiceField: 'voiceId' });
}

function parseObject<T extends z.ZodMiniType>(schema: T, body: unknown): z.infer<T> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid([{ field: '(body)', message: 'must be a JSON object' }]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw invalid(
    parsed.error.issues.map((issue) => ({
      field: issue.path.length > 0 ? issue.path.join('.') : '(body)',
      message: issue.message,
    })),
  );
}

function toAudition(
  voiceInput: string | { id: string },
  input: Settings,
  { textRequired, voiceField }: { textRequired: boolean; voiceField?: string },
): Audition {
  const errors: FieldError[] = [];
  const field = voiceField ?? (typeof voiceInput === 'string' ? 'voice' : 'voice.id');
  const voice = (typeof voiceInput === 'string' ? voiceInput : voiceInput.id).trim();
  const voiceLocaleFound = voiceLocale(voice);
  if (!voiceLocaleFound) {
    errors.push({
      field,
      message: `must be an Azure voice name such as es-AR-ElenaNeural (at most ${MAX_VOICE_LENGTH} characters)`,
    });
  }

  // Where the text is optional, none (or only blanks: a character without a description)
  // means the voice's own line, chosen below once the voice is known to be valid.
  let text: string | undefined = normalizeText(input.text ?? '');
  if (text === '' && !textRequired) {
    text = undefined;
  } else {
    const problem = textProblem(text);
    if (problem) errors.push({ field: 'text', message: problem });
  }

  const style = normalizeStyle(input.style ?? '');
  const badStyle = styleProblem(style);
  if (badStyle) errors.push({ field: 'style', message: badStyle });
  if (input.styledegree !== undefined && input.style_degree !== undefined && input.styledegree !== input.style_degree) {
    errors.push({ field: 'style_degree', message: 'differs from styledegree: send one of the two' });
  }
  if (errors.length > 0) throw invalid(errors);

  return auditionOf({
    voice,
    locale: voiceLocaleFound!,
    text,
    style,
    styleDegree: input.styledegree ?? input.style_degree,
    ratePct: input.rate_pct,
    pitchPct: input.pitch_pct,
  });
}

function invalid(errors: FieldError[]): AppError {
  const fields = [...new Set(errors.map((e) => e.field))].join(', ');
  return new AppError('invalid-request', `Invalid audition request: ${fields}`, { errors });
}
