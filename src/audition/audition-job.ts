import type { CacheLine } from '../cache/audio-cache.ts';
import type { Audition } from '../domain/audition.ts';
import { computeCacheKey } from '../domain/cache-key.ts';
import type { Caller, ProjectAccess } from '../ports/account-directory.ts';
import type { ProjectBlobStores } from '../ports/blob-store.ts';
import type { Logger } from '../logger.ts';
import { Timings } from '../timing.ts';
import type { SynthesisJob } from './speech-synthesis.ts';

/** What the audition use case is asked: one audition of one caller's project. */
export interface AuditionRequest {
  caller: Caller;
  project: ProjectAccess;
  audition: Audition;
  log: Logger;
  /** Where the time goes, for Server-Timing. */
  timings?: Timings;
  /**
   * Background work of a predictive prewarm: its synthesis waits for a background slot (never ahead of an interactive
   * one) and its entry is counted as predictive spend.
   */
  predictive?: boolean;
}

/**
 * One audition on its way: the cache's line for it (its key, its project's own account if any) and what a synthesis
 * needs. `unusableStore`: the project's own storage settings cannot be used (why), so nothing of it is looked up or
 * stored.
 */
export type AuditionJob = CacheLine & SynthesisJob & { unusableStore?: string };

export interface AuditionJobDeps {
  engine: { provider: string; outputFormat: string };
  /** Without it, projects' own accounts are not used (AuditionServiceDeps.projectStores). */
  projectStores?: ProjectBlobStores;
}

export function auditionJob(deps: AuditionJobDeps, request: AuditionRequest): AuditionJob {
  const { caller, project, audition, log, timings = new Timings(), predictive } = request;
  const job: AuditionJob = {
    predictive,
    tenantId: caller.tenantId,
    cacheKey: cacheKeyOf(deps, caller.tenantId, audition, project),
    audition,
    project,
    log,
    timings,
  };
  const storage = storageOf(deps, project);
  if (storage && 'invalid' in storage) job.unusableStore = storage.invalid;
  else if (storage) {
    const { storeId, accountName } = storage;
    // The account's store, built once per account and key and reused (ProjectBlobStores).
    const blobs = deps.projectStores!.storeFor(storage);
    job.store = { storeId, accountName, blobs, projectId: project.id, tenantId: caller.tenantId };
  }
  return job;
}

/**
 * The key a tenant's audition is cached under (its ETag too):
 * with the store id of the project's own account, if any.
 */
export function cacheKeyOf(
  deps: AuditionJobDeps,
  tenantId: string,
  audition: Audition,
  project: ProjectAccess | undefined,
): string {
  const storage = storageOf(deps, project);
  const storeId = storage && 'storeId' in storage ? storage.storeId : undefined;
  const { provider, outputFormat } = deps.engine;
  // A frozen audition (one the handler parsed and shares between requests) cannot change after its key was kept: its
  // keys are kept with it. Any other is keyed afresh.
  const memo = Object.isFrozen(audition) ? keysOf(audition) : undefined;
  const memoKey = `${tenantId}\n${storeId ?? ''}\n${provider}\n${outputFormat}`;
  const known = memo?.get(memoKey);
  if (known) return known;
  const key = computeCacheKey({ tenantId, provider, outputFormat, audition, storeId });
  memo?.set(memoKey, key);
  return key;
}

/** The keys of each shared (frozen) audition, per tenant, account and engine: gone with the audition. */
const keys = new WeakMap<Audition, Map<string, string>>();

function keysOf(audition: Audition): Map<string, string> {
  let known = keys.get(audition);
  if (!known) keys.set(audition, (known = new Map<string, string>()));
  return known;
}

function storageOf(deps: AuditionJobDeps, project: ProjectAccess | undefined): ProjectAccess['storage'] {
  return deps.projectStores ? project?.storage : undefined;
}
