import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { PrismaClient } from '../../src/db/prisma-client.ts';

export interface TestAccount {
  tenantId: string;
  userId: string;
  projectId: string;
  /** An access token for this user, as the Khipu Cloud API issues them. */
  token(claims?: Record<string, unknown>, options?: { expiresIn?: string | number; secret?: string }): Promise<string>;
}

/** A tenant with one user and one project (with its own TTS key unless told otherwise). */
export async function createTestAccount(
  prisma: PrismaClient,
  secret: string,
  options: { ttsKey?: string | null; ttsRegion?: string; tenantActive?: boolean; userActive?: boolean } = {},
): Promise<TestAccount> {
  const suffix = randomUUID().slice(0, 8);
  const tenant = await prisma.tenant.create({
    data: { name: `Tenant ${suffix}`, subdomain: `t-${suffix}`, isActive: options.tenantActive ?? true },
  });
  const user = await prisma.user.create({
    data: { tenantId: tenant.id, email: `user-${suffix}@khipu.test`, isActive: options.userActive ?? true },
  });
  const ttsKey = options.ttsKey === undefined ? `project-key-${suffix}` : options.ttsKey;
  const project = await prisma.project.create({
    data: {
      tenantId: tenant.id,
      ownerId: user.id,
      title: `Book ${suffix}`,
      settings: ttsKey ? { azure_tts_key: ttsKey, azure_tts_region: options.ttsRegion ?? 'eastus' } : {},
    },
  });
  return {
    tenantId: tenant.id,
    userId: user.id,
    projectId: project.id,
    token: (claims = {}, tokenOptions = {}) =>
      new SignJWT({ sub: user.id, email: user.email, type: 'access', ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(tokenOptions.expiresIn ?? '30m')
        .sign(new TextEncoder().encode(tokenOptions.secret ?? secret)),
  };
}
