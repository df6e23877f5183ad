import type { Audition } from '../domain/audition.ts';

/**
 * The SSML for an audition. Every interpolated value is XML-escaped (a line of dialogue with
 * `&`, `<` or `</voice>` is text, never markup). Azure bills the characters inside <voice>,
 * markup included (billableCharacters), so <mstts:express-as> and <prosody> appear only when
 * they change the audio.
 */
export function buildSsml(audition: Audition): string {
  let content = escapeXml(audition.text);
  if (audition.ratePct !== 0 || audition.pitchPct !== 0) {
    const rate = audition.ratePct !== 0 ? ` rate="${signedPercent(audition.ratePct)}"` : '';
    const pitch = audition.pitchPct !== 0 ? ` pitch="${signedPercent(audition.pitchPct)}"` : '';
    content = `<prosody${rate}${pitch}>${content}</prosody>`;
  }
  if (audition.style !== null) {
    const degree = audition.styleDegree !== 1 ? ` styledegree="${audition.styleDegree}"` : '';
    content = `<mstts:express-as style="${escapeXml(audition.style)}"${degree}>${content}</mstts:express-as>`;
  }
  return (
    `<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" ` +
    `xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="${escapeXml(audition.locale)}">` +
    `<voice name="${escapeXml(audition.voice)}">${content}</voice></speak>`
  );
}

/**
 * The characters Azure bills for synthesizing `ssml`, as its pricing note defines them
 * (https://learn.microsoft.com/azure/ai-services/speech-service/text-to-speech#billable-characters):
 * every Unicode code point of the text and of all markup, except the <speak> and <voice> tags
 * themselves — here, everything between `<voice …>` and `</voice>`, entities counted as sent
 * (`&amp;` is 5) — and "each Chinese character is counted as two characters for billing,
 * including kanji used in Japanese, hanja used in Korean, or hanzi used in other languages":
 * every code point of Unicode's Han script (Script=Han: the CJK unified and compatibility
 * ideographs of every block and extension, the CJK and Kangxi radicals, 々 〆 〇 and the
 * Hangzhou numerals) counts 2. Kana, Hangul and CJK punctuation count 1.
 *
 * What the default key's daily budget reserves before a synthesis. An SSML without a <voice>
 * element (none of ours) is counted whole: a budget may count more than Azure bills, never less.
 */
export function billableCharacters(ssml: string): number {
  const billed = [...ssml.matchAll(VOICE_CONTENT)].map((match) => match[1]!);
  let total = 0;
  for (const content of billed.length > 0 ? billed : [ssml]) {
    total += [...content].length + (content.match(HAN) ?? []).length;
  }
  return total;
}

/** The content of each <voice> element (attribute values are escaped, so they hold no `>`). */
const VOICE_CONTENT = /<voice\b[^>]*>([\s\S]*?)<\/voice\s*>/g;
const HAN = /\p{Script=Han}/gu;

function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function signedPercent(value: number): string {
  return `${value > 0 ? '+' : ''}${value}%`;
}
