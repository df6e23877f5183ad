import { createHash } from 'node:crypto';
import type { Audition } from './audition.ts';

/** Bump when the tuple below changes meaning: old entries then simply stop matching. */
const CACHE_KEY_VERSION = 'v1';

export interface CacheKeyInput {
  tenantId: string;
  /** Who synthesizes (`azure`): another engine's audio is another entry. */
  provider: string;
  /** e.g. `audio-24khz-48kbitrate-mono-mp3`. */
  outputFormat: string;
  audition: Audition;
  /**
   * The project's own storage account (ProjectStorage.storeId) when its auditions are stored there; absent for the
   * operator's account. Part of the key, so each account holds its own entries: a project never reads, heals or
   * deletes an entry in another project's account.
   */
  storeId?: string;
}

/**
 * sha256 (hex) of the canonical tuple
 * `[version, tenant id, provider, voice, output format, text, style, styledegree, rate, pitch]`,
 * serialised as JSON. The Audition already has its defaults folded in (no style = `none`,
 * styledegree 1, rate and pitch 0) and its text normalised, so every spelling of one audition
 * (either body shape, absent, null or default values, `page`) gives one key, and the tenant id
 * makes keys of different tenants differ. A project storing in its own account appends the account's store id to the
 * tuple (the operator's account's keys are the tuple above, unchanged).
 */
export function computeCacheKey({ tenantId, provider, outputFormat, audition, storeId }: CacheKeyInput): string {
  const tuple = [
    CACHE_KEY_VERSION,
    tenantId.toLowerCase(),
    provider,
    audition.voice,
    outputFormat,
    audition.text,
    audition.style ?? 'none',
    audition.styleDegree,
    audition.ratePct,
    audition.pitchPct,
    ...(storeId === undefined ? [] : [storeId]),
  ];
  return createHash('sha256').update(JSON.stringify(tuple)).digest('hex');
}
