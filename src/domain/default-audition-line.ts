import { createHash } from 'node:crypto';
import table from './default-audition-lines.json';

const lines: Record<string, string> = table.lines;

/**
 * The line a voice speaks when an audition names no text: the table's line for the voice's
 * locale (`es-PE`), else for its language and script (`sr-Latn`), else for its language (`es`),
 * else the default, with the voice's own name in it.
 */
export function defaultAuditionLine(voice: string, locale: string): string {
  const [language = '', second] = locale.split('-');
  const script = second && /^[A-Z][a-z]{3}$/.test(second) ? `${language}-${second}` : undefined;
  const template = lines[locale] ?? (script ? lines[script] : undefined) ?? lines[language] ?? table.default;
  return template.replace('{name}', voiceName(voice, locale));
}

/**
 * The name in an Azure voice id: `es-PE-CamilaNeural` → Camila, `en-US-AvaMultilingualNeural`
 * → Ava, `zh-CN-henan-YundengNeural` → Yundeng, `en-US-Andrew:DragonHDLatestNeural` → Andrew.
 */
export function voiceName(voice: string, locale: string): string {
  const rest = voice.slice(locale.length + 1).split(':')[0] ?? '';
  const last = rest.split('-').at(-1) ?? rest;
  const name = last
    .replace(/Neural$/, '')
    .replace(/V\d+$/, '')
    .replace(/Multilingual$/, '');
  return name || last;
}

/**
 * The version of a language's default lines (`es`: its line, its locales' and the default): a change of any of them
 * makes a new predictive prewarm of that language worth running; other languages keep theirs.
 */
export function defaultLinesVersion(language: string): string {
  const known = versions.get(language);
  if (known !== undefined) return known;
  const own = Object.entries(lines).filter(([locale]) => locale === language || locale.startsWith(`${language}-`));
  const version = createHash('sha256')
    .update(JSON.stringify([table.default, own]))
    .digest('hex')
    .slice(0, 16);
  if (own.length > 0) versions.set(language, version); // the table's languages only: a bounded memo
  return version;
}

/** Versions computed so far, by language (one hash per language per process, not one per audition). */
const versions = new Map<string, string>();
