import { randomUUID } from 'node:crypto';
import { projectAccessOf } from '../../src/adapters/postgres/prisma-account-directory.ts';
import type { AccountDirectory, Caller, ProjectAccess } from '../../src/ports/account-directory.ts';
import { storageNamed } from '../../src/adapters/postgres/prisma-account-directory.ts';
import {
  DEFAULT_PROJECT_STORAGE_POLICY,
  type ProjectStorage,
  type ProjectStoragePolicy,
} from '../../src/domain/project-storage.ts';

interface TenantRow {
  active: boolean;
}
interface UserRow {
  tenantId: string;
  role: string;
  active: boolean;
}
interface ProjectRow {
  tenantId: string;
  /** As stored in `projects.settings`: read the way PrismaAccountDirectory reads it. */
  settings: unknown;
}

/** An in-memory AccountDirectory: the twin of PrismaAccountDirectory, seeded through its methods. */
export class MemoryAccountDirectory implements AccountDirectory {
  readonly #tenants = new Map<string, TenantRow>();
  readonly #users = new Map<string, UserRow>();
  readonly #projects = new Map<string, ProjectRow>();
  /** Set to make every lookup throw it (the database is unreachable). */
  failing: Error | undefined;
  /** Lookups made, found or not (for tests of what is cached in front of the directory). */
  readonly lookups = { users: 0, projects: 0, storages: 0 };

  /** Projects' storage accounts are read under `storagePolicy`, as PrismaAccountDirectory's. */
  constructor(private readonly storagePolicy: ProjectStoragePolicy = DEFAULT_PROJECT_STORAGE_POLICY) {}

  addTenant({ id = randomUUID(), active = true }: { id?: string; active?: boolean } = {}): string {
    this.#tenants.set(id, { active });
    return id;
  }

  addUser({
    tenantId,
    id = randomUUID(),
    role = 'creator',
    active = true,
  }: {
    tenantId: string;
    id?: string;
    role?: string;
    active?: boolean;
  }): string {
    this.#requireTenant(tenantId);
    this.#users.set(id, { tenantId, role, active });
    return id;
  }

  /** A project of the tenant; `settings` as the Khipu Cloud API stores them (any JSON). */
  addProject({
    tenantId,
    id = randomUUID(),
    settings = {},
  }: {
    tenantId: string;
    id?: string;
    settings?: unknown;
  }): string {
    this.#requireTenant(tenantId);
    this.#projects.set(id, { tenantId, settings: structuredClone(settings) });
    return id;
  }

  /** A tenant with one user and one project, the project with `ttsKey` (flat settings) when given. */
  addAccount(
    options: { ttsKey?: string; ttsRegion?: string; role?: string; tenantActive?: boolean; userActive?: boolean } = {},
  ) {
    const tenantId = this.addTenant({ active: options.tenantActive });
    const userId = this.addUser({ tenantId, role: options.role, active: options.userActive });
    const settings = options.ttsKey ? { azure_tts_key: options.ttsKey, azure_tts_region: options.ttsRegion } : {};
    const projectId = this.addProject({ tenantId, settings });
    return { tenantId, userId, projectId };
  }

  setUserActive(userId: string, active: boolean): void {
    const user = this.#users.get(userId);
    if (!user) throw new Error(`No user ${userId}`);
    user.active = active;
  }

  setTenantActive(tenantId: string, active: boolean): void {
    this.#requireTenant(tenantId).active = active;
  }

  async findActiveUser(userId: string): Promise<Caller | null> {
    this.lookups.users++;
    if (this.failing) throw this.failing;
    const user = this.#users.get(userId);
    if (!user?.active || !this.#tenants.get(user.tenantId)?.active) return null;
    return { userId, tenantId: user.tenantId, role: user.role };
  }

  async findProject(projectId: string): Promise<ProjectAccess | null> {
    this.lookups.projects++;
    if (this.failing) throw this.failing;
    const project = this.#projects.get(projectId);
    if (!project) return null;
    return projectAccessOf(
      { id: projectId, tenantId: project.tenantId, settings: project.settings },
      this.storagePolicy,
    );
  }

  async findStorage(tenantId: string, storeId: string, preferredProjectId?: string): Promise<ProjectStorage | null> {
    this.lookups.storages++;
    if (this.failing) throw this.failing;
    // As the SQL: the tenant's projects only, the preferred one first, then by id.
    const projects = [...this.#projects]
      .filter(([, project]) => project.tenantId === tenantId)
      .sort(([a], [b]) => Number(b === preferredProjectId) - Number(a === preferredProjectId) || (a < b ? -1 : 1));
    return storageNamed(
      projects.map(([, project]) => project.settings),
      storeId,
      this.storagePolicy,
    );
  }

  /** Replaces the project's settings (as the web UI's project settings page saves them). */
  setProjectSettings(projectId: string, settings: unknown): void {
    const project = this.#projects.get(projectId);
    if (!project) throw new Error(`No project ${projectId}`);
    project.settings = structuredClone(settings);
  }

  #requireTenant(tenantId: string): TenantRow {
    // As the database's foreign keys: no user or project of a tenant that is not there.
    const tenant = this.#tenants.get(tenantId);
    if (!tenant) throw new Error(`No tenant ${tenantId}`);
    return tenant;
  }
}
