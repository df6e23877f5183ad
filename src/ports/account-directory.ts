import type { InvalidProjectStorage, ProjectStorage } from '../domain/project-storage.ts';

/** Who may do what: the Khipu Cloud API's users and projects, read-only. */
export interface AccountDirectory {
  /** The user, if active and in an active tenant; else null. */
  findActiveUser(userId: string): Promise<Caller | null>;
  findProject(projectId: string): Promise<ProjectAccess | null>;
  /**
   * The credentials of a storage account the service wrote to, as one of the tenant's projects has them in its
   * settings now (the project that stored there first, when it still names it); null when no project of the tenant
   * names it any more. The cleanup, cap, purge and orphan sweep reach project accounts through it.
   */
  findStorage(tenantId: string, storeId: string, preferredProjectId?: string): Promise<ProjectStorage | null>;
}

export interface Caller {
  userId: string;
  tenantId: string;
  role: string;
}

export interface ProjectAccess {
  id: string;
  tenantId: string;
  /**
   * The project's own Azure Speech key and its region: `settings.creds.tts.azure.key`/`.region`
   * (where the web UI's project settings page writes them) when set, else the guide's flat
   * `settings.azure_tts_key`/`azure_tts_region`.
   */
  ttsKey?: string;
  /** A region name (`eastus`, lower case); never anything else. */
  ttsRegion?: string;
  /** The project's region setting is there but is not a region name: its key is not used (422). */
  ttsRegionInvalid?: true;
  /**
   * The project's own storage account (`settings.creds.storage.azure`, both `accountName` and `accessKey` set); absent:
   * the operator's account holds its auditions; `{ invalid }`: set but unusable (its auditions are not cached).
   */
  storage?: ProjectStorage | InvalidProjectStorage;
  /** false when the project opted out of predictive prewarm (`settings.audition_cache.predictive_prewarm`). */
  predictivePrewarm?: false;
}
