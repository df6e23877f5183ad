import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../clock.ts';
import { languageOf, otherVoicesOfLanguage, SHIPPED_VOICES, type InventoryVoice } from '../domain/voice-inventory.ts';
import type { SpeechCredentials } from '../ports/synthesizer.ts';
import type { VoiceList } from '../ports/voice-list.ts';

const HOUR_MS = 60 * 60 * 1000;
/**
 * Regions remembered at once. Azure has about 60 Speech regions; a project's region is its tenant's input (checked to
 * be a region name, but any name), so what is kept of them is bounded: the least recently used is forgotten.
 */
const MAX_REGIONS = 64;

export interface VoiceInventoryDeps {
  /** The speech service's voice list; without one, the shipped voices are the only ones. */
  list?: VoiceList;
  now?: Clock;
  /** How old a region's list may grow before it is asked again (default 24 h). */
  refreshMs?: number;
  /** How long after a failed ask the region is asked again (default 1 h, at most refreshMs). */
  retryMs?: number;
  /** The voices known without asking (default SHIPPED_VOICES); also the languages served. */
  shipped?: readonly InventoryVoice[];
  log?: { warn(msg: string): void };
}

interface RegionList {
  /** The shipped voices with this region's fetched languages in place of theirs; unset until a fetch succeeded. */
  voices?: readonly InventoryVoice[];
  /** When the region may be asked again (ms since the epoch, on the injected clock). */
  nextAskAt: number;
  /** The ask in flight, which every caller in the meantime joins. */
  asking?: Promise<void>;
}

/**
 * The voices prewarm may synthesize, per Speech region: the shipped inventory until the region's
 * own voices/list (asked with the project's key) is known, then that list for each language it
 * holds. A region's list is asked in the background, at most once per refreshMs (a failed ask:
 * once per retryMs, logged once as a warning), never twice at a time. Answers never wait for it.
 */
export class VoiceInventory {
  readonly #list: VoiceList | undefined;
  readonly #now: Clock;
  readonly #refreshMs: number;
  readonly #retryMs: number;
  readonly #shipped: readonly InventoryVoice[];
  readonly #log: { warn(msg: string): void };
  readonly #regions = new LRUCache<string, RegionList>({ max: MAX_REGIONS });

  constructor(deps: VoiceInventoryDeps = {}) {
    this.#list = deps.list;
    this.#now = deps.now ?? systemClock;
    this.#refreshMs = deps.refreshMs ?? 24 * HOUR_MS;
    this.#retryMs = Math.min(deps.retryMs ?? HOUR_MS, this.#refreshMs);
    this.#shipped = deps.shipped ?? SHIPPED_VOICES;
    this.#log = deps.log ?? { warn: () => {} };
  }

  /**
   * The voices of `locale`'s language other than `voice` (the same locale first), from the
   * freshest list known for the credentials' region. With credentials, a list that is stale (or
   * was never asked) is asked for in the background. A voice of a language not served: none.
   */
  otherVoices(voice: string, locale: string, credentials?: SpeechCredentials): InventoryVoice[] {
    if (credentials) this.#refreshIfDue(credentials);
    const voices = credentials ? this.#regions.get(regionOf(credentials))?.voices : undefined;
    return otherVoicesOfLanguage(voices ?? this.#shipped, voice, locale);
  }

  /**
   * Asks the credentials' region for its list now (or joins the ask in flight), whether due or
   * not. Never rejects: a failure is logged and the region keeps the list it had.
   */
  refresh(credentials: SpeechCredentials): Promise<void> {
    const region = this.#region(credentials);
    region.asking ??= this.#ask(credentials, region).finally(() => (region.asking = undefined));
    return region.asking;
  }

  #refreshIfDue(credentials: SpeechCredentials): void {
    if (!this.#list) return;
    const region = this.#region(credentials);
    if (region.asking || this.#now().getTime() < region.nextAskAt) return;
    void this.refresh(credentials);
  }

  #region(credentials: SpeechCredentials): RegionList {
    const name = regionOf(credentials);
    let region = this.#regions.get(name);
    if (!region) this.#regions.set(name, (region = { nextAskAt: 0 }));
    return region;
  }

  async #ask(credentials: SpeechCredentials, region: RegionList): Promise<void> {
    if (!this.#list) return;
    try {
      const fetched = await this.#list.list(credentials);
      region.voices = mergeByLanguage(this.#shipped, fetched);
      region.nextAskAt = this.#now().getTime() + this.#refreshMs;
    } catch (error) {
      region.nextAskAt = this.#now().getTime() + this.#retryMs;
      const reason = error instanceof Error ? error.message : String(error);
      // Belt and braces: the key must never reach a log, whatever an adapter put in its message.
      const safe = credentials.key ? reason.replaceAll(credentials.key, '[key]') : reason;
      this.#log.warn(
        `voice inventory: the voices/list of ${regionOf(credentials) || 'the speech host'} failed (${safe}); ` +
          `prewarm uses the ${region.voices ? 'last list fetched' : 'shipped voices'}, ` +
          `next ask in ${Math.round(this.#retryMs / 60_000)} min`,
      );
    }
  }
}

/** One list per region; without one (a Speech container host), one list for the host. */
function regionOf(credentials: SpeechCredentials): string {
  return credentials.region ?? '';
}

/**
 * The shipped voices, each language the fetched list holds replaced by the fetched voices of it
 * (in the fetched order, where that language's shipped voices were). Languages the service does
 * not serve (no shipped voice, so no default line) are left out.
 */
function mergeByLanguage(shipped: readonly InventoryVoice[], fetched: readonly InventoryVoice[]): InventoryVoice[] {
  const fetchedByLanguage = new Map<string, InventoryVoice[]>();
  for (const voice of fetched) {
    const language = languageOf(voice.locale);
    const voices = fetchedByLanguage.get(language);
    if (voices) voices.push(voice);
    else fetchedByLanguage.set(language, [voice]);
  }
  const merged: InventoryVoice[] = [];
  const placed = new Set<string>();
  for (const voice of shipped) {
    const language = languageOf(voice.locale);
    const replacement = fetchedByLanguage.get(language);
    if (!replacement) merged.push(voice);
    else if (!placed.has(language)) merged.push(...replacement);
    placed.add(language);
  }
  return merged;
}
