/** Who may do what: the Khipu Cloud API's users and projects, read-only. */
export interface AccountDirectory {
  /** The user, if active and in an active tenant; else null. */
  findActiveUser(userId: string): Promise<Caller | null>;
  findProject(projectId: string): Promise<ProjectAccess | null>;
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
  ttsRegion?: string;
  /** false when the project opted out of predictive prewarm (`settings.audition_cache.predictive_prewarm`). */
  predictivePrewarm?: false;
}
