import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { billableCharacters, buildSsml } from '../../src/audition/ssml.ts';

const HEAD =
  '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xmlns:mstts="https://www.w3.org/2001/mstts"';
const ssmlOf = (body: Record<string, unknown>) => buildSsml(parseAuditionBody({ voice: 'es-AR-ElenaNeural', ...body }));

describe('buildSsml', () => {
  it('emits no billable markup for a default audition', () => {
    expect(ssmlOf({ text: 'Hola', rate_pct: 0, pitch_pct: 0, styledegree: 1 })).toBe(
      `${HEAD} xml:lang="es-AR"><voice name="es-AR-ElenaNeural">Hola</voice></speak>`,
    );
  });

  it('escapes text that looks like markup, so it can neither break nor inject SSML', () => {
    const ssml = ssmlOf({ text: `A & B <break time="5s"/> </voice></speak><voice name='x'>` });
    expect(ssml).toContain(
      '<voice name="es-AR-ElenaNeural">A &amp; B &lt;break time=&quot;5s&quot;/&gt; &lt;/voice&gt;&lt;/speak&gt;&lt;voice name=&apos;x&apos;&gt;</voice>',
    );
    expect(ssml.match(/<voice /g)).toHaveLength(1);
  });

  it('adds express-as only for a real style, and styledegree only when it is not 1', () => {
    expect(ssmlOf({ text: 'x', style: 'cheerful' })).toContain(
      '<mstts:express-as style="cheerful">x</mstts:express-as>',
    );
    expect(ssmlOf({ text: 'x', style: 'cheerful', styledegree: 0.5 })).toContain(
      '<mstts:express-as style="cheerful" styledegree="0.5">',
    );
  });

  it('adds prosody only for a non-zero rate or pitch, with explicit signs', () => {
    expect(ssmlOf({ text: 'x', rate_pct: 25 })).toContain('<prosody rate="+25%">x</prosody>');
    expect(ssmlOf({ text: 'x', pitch_pct: -5 })).toContain('<prosody pitch="-5%">x</prosody>');
    expect(ssmlOf({ text: 'x', rate_pct: -10, pitch_pct: 5 })).toContain(
      '<prosody rate="-10%" pitch="+5%">x</prosody>',
    );
  });

  it('takes xml:lang from the voice’s locale', () => {
    expect(buildSsml(parseAuditionBody({ voice: 'zh-CN-henan-YundengNeural', text: '你好' }))).toContain(
      'xml:lang="zh-CN"',
    );
  });
});

/** What a test reads as billed: the code points between `<voice …>` and `</voice>`, Han ones twice (counted apart from the code). */
const insideVoice = (ssml: string) => /<voice name="[^"]*">(.*)<\/voice><\/speak>$/.exec(ssml)![1]!;

describe('billableCharacters (Azure’s billable characters: the markup inside <voice>, Chinese characters twice)', () => {
  it('counts a 1-character line with style, styledegree, rate and pitch as its markup: 116, not 1', () => {
    const ssml = ssmlOf({ text: 'a', style: 'cheerful', styledegree: 1.5, rate_pct: 10, pitch_pct: 5 });
    const billed =
      '<mstts:express-as style="cheerful" styledegree="1.5"><prosody rate="+10%" pitch="+5%">a</prosody></mstts:express-as>';
    expect(insideVoice(ssml)).toBe(billed);
    expect(billableCharacters(ssml)).toBe(116);
    expect(billableCharacters(ssml)).toBe(billed.length);
    // The longest prosody and the longest style name the request accepts: 161 for one character.
    const longest = ssmlOf({ text: 'a', style: 'a'.repeat(50), styledegree: 0.01, rate_pct: -100, pitch_pct: -50 });
    expect(billableCharacters(longest)).toBe(161);
  });

  it('counts the text alone for a default audition: the <speak> and <voice> tags are not billed', () => {
    expect(billableCharacters(ssmlOf({ text: 'Hola, soy Elena.' }))).toBe(16);
  });

  it('counts escaped characters as sent: & is &amp; (5), < is &lt; (4), " is &quot; (6)', () => {
    const ssml = ssmlOf({ text: 'A & B < "C"' });
    expect(insideVoice(ssml)).toBe('A &amp; B &lt; &quot;C&quot;');
    expect(billableCharacters(ssml)).toBe(28);
  });

  it('counts each Chinese character (hanzi, kanji, hanja: Unicode’s Han script) as two, kana, Hangul and CJK punctuation as one', () => {
    const zh = buildSsml(parseAuditionBody({ voice: 'zh-CN-XiaoxiaoNeural', text: '你好，世界。' }));
    expect(billableCharacters(zh)).toBe(4 * 2 + 2); // 你 好 世 界, and the two punctuation marks
    const ja = buildSsml(parseAuditionBody({ voice: 'ja-JP-NanamiNeural', text: '日本語のテキスト' }));
    expect(billableCharacters(ja)).toBe(3 * 2 + 5); // 日 本 語 (kanji), の テ キ ス ト (kana)
    const ko = buildSsml(parseAuditionBody({ voice: 'ko-KR-SunHiNeural', text: '韓國 한국' }));
    expect(billableCharacters(ko)).toBe(2 * 2 + 3); // 韓 國 (hanja), a space, 한 국 (Hangul)
    // An ideograph outside the Basic Multilingual Plane (Extension B) is one code point, counted twice; so is 々.
    expect(billableCharacters(buildSsml(parseAuditionBody({ voice: 'ja-JP-NanamiNeural', text: '𠮷々' })))).toBe(4);
    // Markup around Chinese text is counted once per character, the text twice.
    const styled = buildSsml(parseAuditionBody({ voice: 'zh-CN-XiaoxiaoNeural', text: '你好', rate_pct: 10 }));
    expect(billableCharacters(styled)).toBe('<prosody rate="+10%"></prosody>'.length + 4);
  });

  it('counts code points, not UTF-16 units: an emoji is one character', () => {
    expect(billableCharacters(ssmlOf({ text: 'ok 👍' }))).toBe(4);
  });

  it('counts every <voice> element of an SSML, and an SSML without one whole (never less than Azure bills)', () => {
    const two =
      '<speak version="1.0" xml:lang="es-AR"><voice name="a">uno</voice><voice name="b"><prosody rate="+5%">dos</prosody></voice></speak>';
    expect(billableCharacters(two)).toBe(3 + '<prosody rate="+5%">dos</prosody>'.length);
    expect(billableCharacters('<speak>hola</speak>')).toBe('<speak>hola</speak>'.length);
  });
});
