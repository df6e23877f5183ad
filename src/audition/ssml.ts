import type { Audition } from '../domain/audition.ts';

/**
 * The SSML for an audition. Every interpolated value is XML-escaped (a line of dialogue with
 * `&`, `<` or `</voice>` is text, never markup). Azure bills the characters inside <voice>,
 * markup included, so <mstts:express-as> and <prosody> appear only when they change the audio.
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

export function escapeXml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

function signedPercent(value: number): string {
  return `${value > 0 ? '+' : ''}${value}%`;
}
