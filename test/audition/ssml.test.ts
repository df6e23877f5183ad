import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { buildSsml } from '../../src/audition/ssml.ts';

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
