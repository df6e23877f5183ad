import { describe, expect, it } from 'vitest';
import { textProblem, voiceLocale } from '../../src/domain/audition.ts';
import { defaultAuditionLine, voiceName } from '../../src/domain/default-audition-line.ts';
import lines from '../../src/domain/default-audition-lines.json';
import table from '../../src/domain/voice-inventory.json';
import {
  languageOf,
  otherVoicesOfLanguage,
  SHIPPED_VOICES,
  type InventoryVoice,
} from '../../src/domain/voice-inventory.ts';

const names = (voices: readonly InventoryVoice[]) => voices.map((v) => v.name);

describe('the shipped voice inventory (src/domain/voice-inventory.json)', () => {
  it('holds only Azure voice names, each under the locale its name gives', () => {
    for (const [locale, voices] of Object.entries(table.voices as Record<string, string[]>)) {
      expect(voices.length, locale).toBeGreaterThan(0);
      for (const name of voices) expect(voiceLocale(name), name).toBe(locale);
    }
    for (const voice of SHIPPED_VOICES) expect(voiceLocale(voice.name)).toBe(voice.locale);
  });

  it('holds each voice once, and only standard neural voices (no `:` variant)', () => {
    expect(new Set(names(SHIPPED_VOICES)).size).toBe(SHIPPED_VOICES.length);
    for (const { name } of SHIPPED_VOICES) expect(name).toMatch(/^[^:]+Neural$/);
  });

  it('is flattened in file order, keeping each language’s locales together', () => {
    expect(SHIPPED_VOICES.slice(0, 2)).toEqual([
      { name: 'af-ZA-AdriNeural', locale: 'af-ZA' },
      { name: 'af-ZA-WillemNeural', locale: 'af-ZA' },
    ]);
    const languages = SHIPPED_VOICES.map((v) => languageOf(v.locale)).filter((l, i, all) => l !== all[i - 1]);
    expect(new Set(languages).size).toBe(languages.length);
  });

  it('has at least one voice for every language of the default audition lines, and none for another', () => {
    const lineLanguages = new Set(Object.keys(lines.lines).map(languageOf));
    const shippedLanguages = new Set(SHIPPED_VOICES.map((v) => languageOf(v.locale)));
    expect([...lineLanguages].filter((l) => !shippedLanguages.has(l))).toEqual([]);
    expect([...shippedLanguages].filter((l) => !lineLanguages.has(l))).toEqual([]);
  });

  it('has the whole Spanish family, with the voices the issue names', () => {
    const spanish = SHIPPED_VOICES.filter((v) => languageOf(v.locale) === 'es');
    expect(spanish.length).toBeGreaterThanOrEqual(45);
    expect(new Set(spanish.map((v) => v.locale))).toEqual(
      new Set(
        ['AR', 'BO', 'CL', 'CO', 'CR', 'CU', 'DO', 'EC', 'ES', 'GQ', 'GT', 'HN', 'MX', 'NI', 'PA', 'PE', 'PR', 'PY']
          .concat(['SV', 'US', 'UY', 'VE'])
          .map((region) => `es-${region}`),
      ),
    );
    expect(names(spanish)).toEqual(
      expect.arrayContaining([
        'es-PE-CamilaNeural',
        'es-PE-AlexNeural',
        'es-MX-DaliaNeural',
        'es-ES-ElviraNeural',
        'es-AR-ElenaNeural',
      ]),
    );
  });

  it('gives every shipped voice a default line it can speak, in its own language', () => {
    for (const voice of SHIPPED_VOICES) {
      const line = defaultAuditionLine(voice.name, voice.locale);
      expect(textProblem(line), voice.name).toBeUndefined();
      expect(line, voice.name).toContain(voiceName(voice.name, voice.locale));
      // Its language's line, not the English fallback of a language the table lacks.
      if (languageOf(voice.locale) !== 'en') {
        expect(line, voice.name).not.toBe(lines.default.replace('{name}', voiceName(voice.name, voice.locale)));
      }
    }
  });
});

describe('languageOf', () => {
  it('is the language subtag, with or without script and region', () => {
    expect(['es-PE', 'zh-CN', 'sr-Latn-RS', 'fil-PH', 'yue-CN', 'en'].map(languageOf)).toEqual([
      'es',
      'zh',
      'sr',
      'fil',
      'yue',
      'en',
    ]);
  });
});

describe('otherVoicesOfLanguage', () => {
  const voice = (name: string): InventoryVoice => ({ name, locale: voiceLocale(name)! });
  const inventory = [
    'en-US-AvaNeural',
    'es-AR-ElenaNeural',
    'es-AR-TomasNeural',
    'es-MX-DaliaNeural',
    'es-PE-CamilaNeural',
    'fr-FR-DeniseNeural',
    'es-ES-ElviraNeural',
    'es-PE-AlexNeural',
    'sr-Latn-RS-SophieNeural',
    'sr-RS-NicholasNeural',
  ].map(voice);

  it('answers the same locale first, then the language’s other locales in inventory order, never the voice itself', () => {
    expect(names(otherVoicesOfLanguage(inventory, 'es-PE-CamilaNeural', 'es-PE'))).toEqual([
      'es-PE-AlexNeural',
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
      'es-MX-DaliaNeural',
      'es-ES-ElviraNeural',
    ]);
  });

  it('answers every other locale’s first two voices before any locale’s third', () => {
    const more = [
      'es-MX-DaliaNeural',
      'es-MX-JorgeNeural',
      'es-MX-BeatrizNeural',
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
    ]
      .map(voice)
      .concat(voice('es-PE-CamilaNeural'));
    expect(names(otherVoicesOfLanguage(more, 'es-PE-CamilaNeural', 'es-PE'))).toEqual([
      'es-MX-DaliaNeural',
      'es-MX-JorgeNeural',
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
      'es-MX-BeatrizNeural',
    ]);
  });

  it('still answers the others for a voice the inventory does not hold (a voice newer than the list)', () => {
    expect(names(otherVoicesOfLanguage(inventory, 'es-PE-NuevaNeural', 'es-PE'))).toEqual([
      'es-PE-CamilaNeural',
      'es-PE-AlexNeural',
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
      'es-MX-DaliaNeural',
      'es-ES-ElviraNeural',
    ]);
  });

  it('answers nothing for a language the inventory does not hold, or one voice alone', () => {
    expect(otherVoicesOfLanguage(inventory, 'ja-JP-NanamiNeural', 'ja-JP')).toEqual([]);
    expect(otherVoicesOfLanguage(inventory, 'en-US-AvaNeural', 'en-US')).toEqual([]);
  });

  it('groups script locales under their language (sr-Latn-RS with sr-RS)', () => {
    expect(names(otherVoicesOfLanguage(inventory, 'sr-RS-SophieNeural', 'sr-RS'))).toEqual([
      'sr-RS-NicholasNeural',
      'sr-Latn-RS-SophieNeural',
    ]);
  });

  it('answers each name once when the inventory repeats one', () => {
    const repeated = [...inventory, voice('es-AR-ElenaNeural'), voice('es-PE-AlexNeural')];
    expect(names(otherVoicesOfLanguage(repeated, 'es-MX-DaliaNeural', 'es-MX'))).toEqual([
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
      'es-PE-CamilaNeural',
      'es-ES-ElviraNeural',
      'es-PE-AlexNeural',
    ]);
  });

  it('leaves the inventory it was given as it was', () => {
    const before = names(inventory);
    otherVoicesOfLanguage(inventory, 'es-PE-CamilaNeural', 'es-PE');
    expect(names(inventory)).toEqual(before);
  });
});
