import table from './voice-inventory.json';

/** One Azure voice the service knows of: its name (ShortName) and the locale of that name. */
export interface InventoryVoice {
  /** e.g. `es-PE-CamilaNeural`. */
  name: string;
  /** e.g. `es-PE`: the locale the audition path reads from the name (voiceLocale). */
  locale: string;
}

const shippedTable: Record<string, string[]> = table.voices;

/**
 * The voices shipped with the service (voice-inventory.json), in file order: the Azure neural
 * voices of every language with a default audition line. What prewarm reads until (and unless)
 * the Speech resource's own voices/list is known.
 */
export const SHIPPED_VOICES: readonly InventoryVoice[] = Object.freeze(
  Object.entries(shippedTable).flatMap(([locale, names]) => names.map((name) => ({ name, locale }))),
);

/** The language of a locale: `es` of `es-PE`, `zh` of `zh-CN`, `sr` of `sr-Latn-RS`. */
export function languageOf(locale: string): string {
  const [language = ''] = locale.split('-');
  return language.toLowerCase();
}

/** Voices per locale that lead its list (a locale's main voices come first in the inventory). */
const LEADING_PER_LOCALE = 2;

/**
 * The voices of `locale`'s language other than `voice`: those of `locale` first; then each other
 * locale's first two (its main voices, as the web app's casting page offers two per locale), in
 * inventory order; then the rest in inventory order; each name once. So a capped prewarm covers
 * every locale's main voices before any locale's extra ones. A voice the inventory does not hold
 * still gets its language's others (it may be newer than the list); a language it does not hold
 * gets none.
 */
export function otherVoicesOfLanguage(
  inventory: readonly InventoryVoice[],
  voice: string,
  locale: string,
): InventoryVoice[] {
  const language = languageOf(locale);
  const sameLanguage = inventory.filter((v) => v.name !== voice && languageOf(v.locale) === language);
  const seen = new Set<string>();
  const unique = sameLanguage.filter((v) => !seen.has(v.name) && seen.add(v.name));
  const perLocale = new Map<string, number>();
  const leading = (v: InventoryVoice) => {
    const count = (perLocale.get(v.locale) ?? 0) + 1;
    perLocale.set(v.locale, count);
    return count <= LEADING_PER_LOCALE;
  };
  const own = unique.filter((v) => v.locale === locale);
  const others = unique.filter((v) => v.locale !== locale);
  const leads = others.filter(leading);
  return [...own, ...leads, ...others.filter((v) => !leads.includes(v))];
}
