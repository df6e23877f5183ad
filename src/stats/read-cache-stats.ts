import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import type { ProjectStoreState, ProjectStoreStatus } from '../cache/project-stores.ts';
import type { CacheStats, CacheStatsReader, StoreUsage } from '../ports/cache-stats.ts';
import { budgetDay, type SpeechBudget } from '../ports/speech-budget.ts';

export interface TenantCacheStats extends Omit<CacheStats, 'projectStores'> {
  tenantId: string;
  /**
   * The tenant's projects' own storage accounts: our entries in each, and how this instance last found it (`failing`
   * with a code and since when, `ok`, or `unknown`: not used here lately). A failing account without entries is listed
   * too (a wrong key from the start, unusable settings).
   */
  projectStores: ProjectStoreFigures[];
  generatedAt: string;
  /** Characters synthesized today (UTC) on the service's key, for projects without their own. */
  defaultKey: { charactersPerDay: number | null; usedToday: number; remainingToday: number | null };
}

export type ProjectStoreFigures = StoreUsage & {
  status: 'ok' | 'failing' | 'unknown';
  lastError?: string;
  failingSince?: string;
};

/** The tenant's stores with their entries, and their state as this instance knows it. */
function storeFigures(stores: StoreUsage[], states: ProjectStoreState[]): ProjectStoreFigures[] {
  const stateOf = (storeId: string, projectId: string) =>
    states.find((s) => s.storeId === storeId && s.projectId === projectId) ?? states.find((s) => s.storeId === storeId);
  const figures: ProjectStoreFigures[] = stores.map((store) => {
    const state = stateOf(store.storeId, store.projectId);
    if (!state) return { ...store, status: 'unknown' };
    return { ...store, ...failure(state) };
  });
  for (const state of states) {
    if (!state.failing || figures.some((f) => f.storeId === state.storeId)) continue;
    const { tenantId, storeId, projectId } = state;
    figures.push({ tenantId, storeId, projectId, entries: 0, sizeBytes: 0, ...failure(state) });
  }
  return figures;
}

function failure(state: ProjectStoreState): Pick<ProjectStoreFigures, 'status' | 'lastError' | 'failingSince'> {
  if (!state.failing) return { status: 'ok' };
  return { status: 'failing', lastError: state.lastError, failingSince: state.failingSince };
}

export interface TenantStatsDeps {
  stats: CacheStatsReader;
  speechBudget: SpeechBudget;
  /** What this instance knows of the tenant's projects' own accounts. */
  projectStoreStatus: Pick<ProjectStoreStatus, 'states'>;
  now: Clock;
}

export interface TenantStatsSettings {
  /** For the savings (TTS_PRICE_PER_MILLION_CHARS). */
  pricePerMillionChars: number;
  /** DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY (0: no limit). */
  charactersPerDay: number;
}

/**
 * The stats endpoint's use case: one tenant's cache figures (never another tenant's) and what is left of its budget on
 * the service's default key today.
 */
export class TenantStats {
  readonly #deps: TenantStatsDeps;
  readonly #settings: TenantStatsSettings;

  constructor(deps: TenantStatsDeps, settings: TenantStatsSettings) {
    this.#deps = deps;
    this.#settings = settings;
  }

  /** The tenant's figures now; `unavailable` (retry in 5 s) when they cannot be read. */
  async read(tenantId: string): Promise<TenantCacheStats> {
    const { pricePerMillionChars, charactersPerDay } = this.#settings;
    const now = this.#deps.now();
    const [figures, usedToday] = await Promise.all([
      this.#deps.stats.read({ tenantId, now, pricePerMillionChars }),
      this.#deps.speechBudget.used(tenantId, budgetDay(now)),
    ]).catch((error: unknown) => {
      throw new AppError('unavailable', 'The cache figures could not be read right now; try again shortly', {
        retryAfterSeconds: 5,
        cause: error,
      });
    });
    const limited = charactersPerDay > 0;
    const defaultKey = {
      charactersPerDay: limited ? charactersPerDay : null,
      usedToday,
      remainingToday: limited ? Math.max(0, charactersPerDay - usedToday) : null,
    };
    const projectStores = storeFigures(figures.projectStores, this.#deps.projectStoreStatus.states(tenantId));
    return { tenantId, generatedAt: now.toISOString(), ...figures, projectStores, defaultKey };
  }
}
