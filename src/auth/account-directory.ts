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
  /** `settings.azure_tts_key` / `settings.azure_tts_region`, when set. */
  ttsKey?: string;
  ttsRegion?: string;
}
