import { describe, expect, it } from 'vitest';
import { parseAuditionBody, parsePrewarmItem, parseVoiceAudition } from '../../src/handlers/audition-request.ts';
import { AppError, type FieldError } from '../../src/errors.ts';
import { defaultAuditionLine } from '../../src/domain/default-audition-line.ts';

const errorsOf = (parse: () => unknown): FieldError[] => {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('invalid-request');
    return (error as AppError).extra.errors!;
  }
  throw new Error('expected a 400');
};
const fieldsOf = (body: unknown) => errorsOf(() => parseAuditionBody(body)).map((e) => e.field);

describe('parseAuditionBody', () => {
  it.each([
    ['es-AR-ElenaNeural', 'es-AR'],
    ['zh-CN-henan-YundengNeural', 'zh-CN'],
    ['en-US-Andrew:DragonHDLatestNeural', 'en-US'],
    ['sr-Latn-RS-NicholasNeural', 'sr-Latn-RS'],
    ['fil-PH-BlessicaNeural', 'fil-PH'],
  ])('accepts the Azure voice name %s (locale %s)', (voice, locale) => {
    expect(parseAuditionBody({ voice, text: 'Hola' })).toMatchObject({ voice, locale });
  });

  it('folds defaults in: absent, null and default values are the same audition', () => {
    const base = { voice: 'es-AR-ElenaNeural', text: 'Hola' };
    const expected = {
      voice: 'es-AR-ElenaNeural',
      locale: 'es-AR',
      text: 'Hola',
      style: null,
      styleDegree: 1,
      ratePct: 0,
      pitchPct: 0,
    };
    expect(parseAuditionBody(base)).toEqual(expected);
    expect(parseAuditionBody({ ...base, style: null, styledegree: null, rate_pct: null, pitch_pct: null })).toEqual(
      expected,
    );
    for (const style of ['', 'none', 'general', 'default', ' Default ']) {
      expect(parseAuditionBody({ ...base, style, styledegree: 1.7, rate_pct: -0, pitch_pct: 0 })).toEqual(expected);
    }
  });

  it('normalises the text: NFC, trimmed, whitespace runs collapsed', () => {
    const decomposed = 'Cancio\u0301n\n\n  de   cuna\t';
    expect(parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: decomposed }).text).toBe('Canción de cuna');
  });

  it('keeps a real style with its degree, lower-cased', () => {
    expect(
      parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: 'x', style: 'Cheerful', styledegree: 1.5 }),
    ).toMatchObject({
      style: 'cheerful',
      styleDegree: 1.5,
    });
  });

  it('rounds rate and pitch to whole percents and styledegree to hundredths, on both routes and in prewarm items (-0 is 0)', () => {
    const voice = 'es-AR-ElenaNeural';
    const cases: [Record<string, unknown>, { styleDegree: number; ratePct: number; pitchPct: number }][] = [
      [
        { styledegree: 0.8, rate_pct: 10, pitch_pct: 5 },
        { styleDegree: 0.8, ratePct: 10, pitchPct: 5 },
      ],
      [
        { styledegree: 0.800001, rate_pct: 10.000001, pitch_pct: 4.999999 },
        { styleDegree: 0.8, ratePct: 10, pitchPct: 5 },
      ],
      [
        { styledegree: 1.234567, rate_pct: -10.4, pitch_pct: 49.6 },
        { styleDegree: 1.23, ratePct: -10, pitchPct: 50 },
      ],
      // Halves (exact in binary) go up, as Math.round.
      [
        { styledegree: 0.125, rate_pct: 10.5, pitch_pct: -10.5 },
        { styleDegree: 0.13, ratePct: 11, pitchPct: -10 },
      ],
      [
        { styledegree: 0.999, rate_pct: -0.4, pitch_pct: -0 },
        { styleDegree: 1, ratePct: 0, pitchPct: 0 },
      ],
    ];
    for (const [settings, expected] of cases) {
      const body = { text: 'Hola', style: 'cheerful', ...settings };
      for (const audition of [
        parseAuditionBody({ voice, ...body }),
        parseVoiceAudition(voice, body),
        parsePrewarmItem({ voice, ...body }),
      ]) {
        expect(audition).toMatchObject(expected);
        // -0 is 0 (toMatchObject would take either; Object.is tells them apart).
        expect(Object.is(audition.ratePct, -0) || Object.is(audition.pitchPct, -0)).toBe(false);
      }
    }
    // Rounding does not widen the ranges: a value outside is refused before it is rounded.
    expect(fieldsOf({ voice, text: 'x', rate_pct: 200.4 })).toEqual(['rate_pct']);
    expect(fieldsOf({ voice, text: 'x', styledegree: 0.004 })).toEqual(['styledegree']);
  });

  it('names every invalid field at once', () => {
    expect(fieldsOf({ voice: 'nope', text: '', style: '<b>', rate_pct: 500 })).toEqual(['rate_pct']);
    expect(fieldsOf({ voice: 'nope', text: '', style: '<b>' })).toEqual(['voice', 'text', 'style']);
  });

  it('accepts text of exactly 5,000 characters and refuses 5,001', () => {
    expect(parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: 'a'.repeat(5_000) }).text).toHaveLength(5_000);
    expect(fieldsOf({ voice: 'es-AR-ElenaNeural', text: 'a'.repeat(5_001) })).toEqual(['text']);
  });

  it.each([
    [{ voice: 'es-AR-ElenaNeural', text: 'x', styledegree: 0 }, 'styledegree'],
    [{ voice: 'es-AR-ElenaNeural', text: 'x', styledegree: 2.01 }, 'styledegree'],
    [{ voice: 'es-AR-ElenaNeural', text: 'x', rate_pct: -101 }, 'rate_pct'],
    [{ voice: 'es-AR-ElenaNeural', text: 'x', pitch_pct: 50.5 }, 'pitch_pct'],
    [{ voice: 'es-AR-ElenaNeural', text: 'x', pitch_pct: '5' }, 'pitch_pct'],
    [{ voice: ['es-AR-ElenaNeural'], text: 'x' }, 'voice'],
    [{ voice: { name: 'es-AR-ElenaNeural' }, text: 'x' }, 'voice'],
  ])('refuses %j naming %s', (body, field) => {
    expect(fieldsOf(body)).toContain(field);
  });
});

describe('the text rules', () => {
  const voice = 'es-AR-ElenaNeural';

  it.each([
    ['DEL', 'a\u007fb', 'U+007F'],
    ['NEL (a C1 control, not whitespace)', 'Y entonces\u0085 se fue', 'U+0085'],
    ['the first C1 control', 'a\u0080b', 'U+0080'],
    ['the last C1 control', 'a\u009fb', 'U+009F'],
    ['NUL', 'a\u0000b', 'U+0000'],
    ['ESC', 'a\u001b[31mb', 'U+001B'],
    ['a lone high surrogate', 'a\ud800b', 'U+D800'],
    ['a lone low surrogate', 'a\udfffb', 'U+DFFF'],
    ['the noncharacter U+FFFE', 'a\ufffeb', 'U+FFFE'],
    ['the noncharacter U+FDD0', 'a\ufdd0b', 'U+FDD0'],
    ['the noncharacter U+10FFFF', 'a\u{10ffff}b', 'U+10FFFF'],
  ])('refuses %s on both routes and in prewarm items, naming the text and the character', (_name, text, codePoint) => {
    for (const parse of [
      () => parseAuditionBody({ voice, text }),
      () => parseVoiceAudition(voice, { text }),
      () => parsePrewarmItem({ voice, text }),
    ]) {
      const errors = errorsOf(parse);
      expect(errors.map((e) => e.field)).toEqual(['text']);
      expect(errors[0]!.message).toContain(`contains ${codePoint}, which cannot be spoken`);
    }
  });

  it('collapses whitespace of every kind (tabs, line breaks, VT, FF, NBSP, U+2028/2029, ideographic space) into single spaces', () => {
    const text = '\tUno\r\ndos\u000b\u000ctres\u00a0cuatro\u2028cinco\u2029seis\u3000siete ';
    expect(parseAuditionBody({ voice, text }).text).toBe('Uno dos tres cuatro cinco seis siete');
  });

  it('speaks the rest of Unicode as it is: format characters, emoji sequences, astral and private-use characters', () => {
    for (const text of [
      '👩\u200d👩\u200d👧 ñandú',
      'שלום\u200f!',
      'co\u00adoperar',
      '𝄞 clave de sol',
      'ﬁn',
      '\ue000',
    ]) {
      expect(parseAuditionBody({ voice, text }).text).toBe(text.normalize('NFC'));
    }
  });

  it('on the voices route, an empty or blank text is the voice’s default line; on the characters route it is a 400', () => {
    const line = defaultAuditionLine(voice, 'es-AR');
    for (const text of ['', '   ', '\n\t', null, undefined])
      expect(parseVoiceAudition(voice, { text }).text).toBe(line);
    for (const text of ['', '   '])
      expect(errorsOf(() => parseAuditionBody({ voice, text }))).toEqual([
        { field: 'text', message: 'must not be empty' },
      ]);
  });
});
