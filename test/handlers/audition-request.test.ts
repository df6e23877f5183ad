import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { AppError } from '../../src/errors.ts';

const fieldsOf = (body: unknown) => {
  try {
    parseAuditionBody(body);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).extra.errors!.map((e) => e.field);
  }
  throw new Error('expected a 400');
};

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
    const expected = { voice: 'es-AR-ElenaNeural', locale: 'es-AR', text: 'Hola', style: null, styleDegree: 1, ratePct: 0, pitchPct: 0 };
    expect(parseAuditionBody(base)).toEqual(expected);
    expect(parseAuditionBody({ ...base, style: null, styledegree: null, rate_pct: null, pitch_pct: null })).toEqual(expected);
    for (const style of ['', 'none', 'general', 'default', ' Default ']) {
      expect(parseAuditionBody({ ...base, style, styledegree: 1.7, rate_pct: -0, pitch_pct: 0 })).toEqual(expected);
    }
  });

  it('normalises the text: NFC, trimmed, whitespace runs collapsed', () => {
    const decomposed = 'Cancio\u0301n\n\n  de   cuna\t';
    expect(parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: decomposed }).text).toBe('Canción de cuna');
  });

  it('keeps a real style with its degree, lower-cased', () => {
    expect(parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: 'x', style: 'Cheerful', styledegree: 1.5 })).toMatchObject({
      style: 'cheerful',
      styleDegree: 1.5,
    });
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
