import type { PrismaClient } from '../db/prisma-client.ts';
import type { AccountDirectory, Caller, ProjectAccess } from './account-directory.ts';

export class PrismaAccountDirectory implements AccountDirectory {
  constructor(private readonly prisma: PrismaClient) {}

  async findActiveUser(userId: string): Promise<Caller | null> {
    const user = await this.prisma.user.findFirst({
      where: { id: userId, isActive: true, tenant: { isActive: true } },
      select: { id: true, tenantId: true, role: true },
    });
    return user && { userId: user.id, tenantId: user.tenantId, role: user.role };
  }

  async findProject(projectId: string): Promise<ProjectAccess | null> {
    const project = await this.prisma.project.findUnique({
      where: { id: projectId },
      select: { id: true, tenantId: true, settings: true },
    });
    if (!project) return null;
    const settings = (project.settings ?? {}) as Record<string, unknown>;
    return {
      id: project.id,
      tenantId: project.tenantId,
      ttsKey: nonEmptyString(settings.azure_tts_key),
      ttsRegion: nonEmptyString(settings.azure_tts_region),
    };
  }
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
