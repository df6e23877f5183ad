import { retryIfConnectionLost } from './connect-retry.ts';
import type { Database } from './prisma-client.ts';
import type { AccountDirectory, Caller, ProjectAccess } from '../../ports/account-directory.ts';
import {
  DEFAULT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStorage,
  type ProjectStoragePolicy,
} from '../../domain/project-storage.ts';

/** An active user of an active tenant (`is_active` may be NULL in the Khipu database: not active). */
const FIND_ACTIVE_USER = `
  SELECT u.id::text AS "userId", u.tenant_id::text AS "tenantId", u.role
    FROM users AS u JOIN tenants AS t ON t.id = u.tenant_id
   WHERE u.id = $1::uuid AND u.is_active = true AND t.is_active = true`;

/** A project's tenant and settings (json in the Khipu database, jsonb in ours: node-postgres parses both). */
const FIND_PROJECT = `
  SELECT p.id::text AS id, p.tenant_id::text AS "tenantId", p.settings FROM projects AS p WHERE p.id = $1::uuid`;

/**
 * Reads only: each is retried once when its connection dies under it (a restart). Projects' storage accounts are read
 * under `storagePolicy` (where they may be).
 */
export class PrismaAccountDirectory implements AccountDirectory {
  /**
   * The user and the project are read straight through the pool (Database.pool), as the index's lookup is: a new
   * instance's first HIT then loads neither Prisma's client runtime nor its query compiler (npm run bench:cold).
   */
  constructor(
    private readonly db: Database,
    private readonly storagePolicy: ProjectStoragePolicy = DEFAULT_PROJECT_STORAGE_POLICY,
  ) {}

  async findActiveUser(userId: string): Promise<Caller | null> {
    const { rows } = await retryIfConnectionLost(() => this.db.pool.query<Caller>(FIND_ACTIVE_USER, [userId]));
    return rows[0] ?? null;
  }

  async findProject(projectId: string): Promise<ProjectAccess | null> {
    const { rows } = await retryIfConnectionLost(() =>
      this.db.pool.query<{ id: string; tenantId: string; settings: unknown }>(FIND_PROJECT, [projectId]),
    );
    const project = rows[0];
    if (!project) return null;
    return projectAccessOf(project, this.storagePolicy);
  }

  async findStorage(tenantId: string, storeId: string, preferredProjectId?: string): Promise<ProjectStorage | null> {
    // Only the tenant's projects that have a storage account in their settings, the preferred one first. `#>` is
    // defined for json (the Khipu database's settings) and jsonb (ours) alike, so the column is never cast.
    const preferred = preferredProjectId ?? null;
    const projects = await retryIfConnectionLost(
      () => this.db.$queryRaw<{ settings: unknown }[]>`
      SELECT p.settings FROM projects AS p
       WHERE p.tenant_id = ${tenantId}::uuid AND (p.settings #> '{creds,storage,azure}') IS NOT NULL
       ORDER BY p.id = ${preferred}::uuid DESC NULLS LAST, p.id`,
    );
    return storageNamed(
      projects.map((project) => project.settings),
      storeId,
      this.storagePolicy,
    );
  }
}

/** The first of these settings whose storage account is usable and is `storeId`; null when none is. */
export function storageNamed(
  settings: readonly unknown[],
  storeId: string,
  policy: ProjectStoragePolicy,
): ProjectStorage | null {
  for (const one of settings) {
    const storage = projectStorageOf(typeof one === 'string' ? parseJson(one) : one, policy);
    if (storage && !('invalid' in storage) && storage.storeId === storeId) return storage;
  }
  return null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * What a project's row grants: its tenant, its speech key, its storage account, its opt-outs (read from its settings,
 * any shape).
 */
export function projectAccessOf(
  project: { id: string; tenantId: string; settings: unknown },
  storagePolicy: ProjectStoragePolicy,
): ProjectAccess {
  const storage = projectStorageOf(project.settings, storagePolicy);
  return {
    id: project.id,
    tenantId: project.tenantId,
    ...projectSpeechKey(project.settings),
    ...(storage ? { storage } : {}),
    ...(predictivePrewarmOptedOut(project.settings) ? { predictivePrewarm: false as const } : {}),
  };
}

/**
 * The project's Azure Speech key and region from its settings (a json or jsonb column; any
 * shape): the web UI's `creds.tts.azure` first, then the guide's flat keys. The region goes
 * with the key it was stored beside. A region that is not a region name (it becomes part of a
 * host name: `"127.0.0.1:5432/x?"` would pick where we connect) is never returned: the project
 * is marked `ttsRegionInvalid`, and its syntheses are refused before anything is connected to.
 */
export function projectSpeechKey(settings: unknown): Pick<ProjectAccess, 'ttsKey' | 'ttsRegion' | 'ttsRegionInvalid'> {
  const azure = field(field(field(settings, 'creds'), 'tts'), 'azure');
  const uiKey = nonEmptyString(field(azure, 'key'));
  if (uiKey) return { ttsKey: uiKey, ...speechRegion(field(azure, 'region')) };
  const flatKey = nonEmptyString(field(settings, 'azure_tts_key'));
  if (flatKey) return { ttsKey: flatKey, ...speechRegion(field(settings, 'azure_tts_region')) };
  return {};
}

/** As AZURE_SPEECH_REGION must be (`eastus`), case aside. */
const REGION_NAME = /^[a-z0-9]{1,40}$/;

function speechRegion(value: unknown): Pick<ProjectAccess, 'ttsRegion' | 'ttsRegionInvalid'> {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return {};
  const region = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  return region !== undefined && REGION_NAME.test(region) ? { ttsRegion: region } : { ttsRegionInvalid: true };
}

/**
 * Whether the project opted out of predictive prewarm: `settings.audition_cache.predictive_prewarm` is `false` (or
 * `"false"`, `"off"`); anything else, or nothing, leaves it on.
 */
export function predictivePrewarmOptedOut(settings: unknown): boolean {
  const value = field(field(settings, 'audition_cache'), 'predictive_prewarm');
  return value === false || (typeof value === 'string' && /^\s*(false|off|no|0)\s*$/i.test(value));
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
