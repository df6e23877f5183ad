import { describe, expect, it } from 'vitest';
import { parseVoiceAudition } from '../../src/handlers/audition-request.ts';
import { textProblem } from '../../src/domain/audition.ts';
import { defaultAuditionLine, voiceName } from '../../src/domain/default-audition-line.ts';
import table from '../../src/domain/default-audition-lines.json';

const entries = Object.entries(table.lines as Record<string, string>);

describe('the default audition lines (src/domain/default-audition-lines.json)', () => {
  it('cover at least the 30 most spoken languages among Azure’s neural voices', () => {
    const languages = new Set(entries.map(([key]) => key.split('-')[0]));
    expect(languages.size).toBeGreaterThanOrEqual(30);
    for (const language of [
      'zh',
      'es',
      'en',
      'hi',
      'ar',
      'bn',
      'pt',
      'ru',
      'ja',
      'pa',
      'de',
      'jv',
      'ko',
      'fr',
      'te',
      'mr',
      'tr',
      'ta',
      'vi',
      'ur',
      'it',
      'th',
      'gu',
      'fa',
      'pl',
      'uk',
      'kn',
      'ml',
      'id',
      'nl',
    ]) {
      expect(languages, language).toContain(language);
    }
  });

  it.each([...entries, ['default', table.default]])(
    '%s: one {name}, and the line passes the audition text rules',
    (_key, template) => {
      expect(template.split('{name}')).toHaveLength(2);
      const line = template.replace('{name}', 'Camila');
      expect(line).toBe(line.normalize('NFC').replace(/\s+/gu, ' ').trim());
      expect(textProblem(line)).toBeUndefined();
      expect(line.length).toBeLessThanOrEqual(200);
    },
  );

  it.each([
    ['es-PE-CamilaNeural', 'Hola, soy Camila. Así sonaría mi voz narrando tu historia.'], // locale → language
    ['es-ES-ElviraNeural', 'Hola, soy Elvira. Así sonaría mi voz narrando vuestra historia.'], // the locale's own
    ['pt-BR-FranciscaNeural', 'Olá, eu sou Francisca. É assim que minha voz soa contando a sua história.'],
    ['sr-Latn-RS-NicholasNeural', 'Zdravo, ja sam Nicholas. Ovako zvuči moj glas dok pričam vašu priču.'], // language + script
    ['sr-RS-SophieNeural', 'Здраво, ја сам Sophie. Овако звучи мој глас док причам вашу причу.'],
    ['zh-TW-HsiaoChenNeural', '你好，我是HsiaoChen。這就是我講述你的故事時的聲音。'],
    ['zh-CN-henan-YundengNeural', '你好，我是Yundeng。这就是我讲述你的故事时的声音。'],
    ['en-US-Andrew:DragonHDLatestNeural', "Hello, I'm Andrew. This is how my voice would sound telling your story."],
    ['xh-ZA-ThandoNeural', "Hello, I'm Thando. This is how my voice would sound telling your story."], // no line: the default
  ])('%s speaks “%s”', (voice, line) => {
    expect(parseVoiceAudition(voice, {}).text).toBe(line);
  });

  it.each([
    ['en-US-AvaMultilingualNeural', 'en-US', 'Ava'],
    ['en-US-JennyMultilingualV2Neural', 'en-US', 'Jenny'],
    ['es-AR-ElenaNeural', 'es-AR', 'Elena'],
    ['zh-CN-henan-YundengNeural', 'zh-CN', 'Yundeng'],
    ['en-US-Andrew:DragonHDLatestNeural', 'en-US', 'Andrew'],
  ])('names %s “%s”', (voice, locale, name) => {
    expect(voiceName(voice, locale)).toBe(name);
    expect(defaultAuditionLine(voice, locale)).toContain(name);
  });
});
