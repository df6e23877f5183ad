import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../../src/adapters/postgres/prisma-client.ts';
import { signAccessToken } from '../../tools/dev/access-token.ts';

export interface TestAccount {
  tenantId: string;
  userId: string;
  projectId: string;
  /** An access token for this user, as the Khipu Cloud API issues them. */
  token(claims?: Record<string, unknown>, options?: { expiresIn?: string | number; secret?: string }): Promise<string>;
}

export interface TestAccountOptions {
  /** The project's own Azure key (a generated one by default; null: none). */
  ttsKey?: string | null;
  ttsRegion?: string;
  /**
   * Where the key is: `creds`, where the web UI's project settings page writes it
   * (settings.creds.tts.azure.key/region), or `flat`, the guide's settings.azure_tts_key.
   */
  ttsKeyAt?: 'creds' | 'flat';
  tenantActive?: boolean;
  userActive?: boolean;
  role?: string;
}

/**
 * A tenant with one user and one project (with its own TTS key unless told otherwise), written
 * with plain SQL that fits both database shapes: ours, and the Khipu Cloud API's (which wants
 * a plan, a role, a password hash, a language and a status, and makes no ids itself).
 */
export async function createTestAccount(
  prisma: PrismaClient,
  secret: string,
  options: TestAccountOptions = {},
): Promise<TestAccount> {
  const khipu = await isKhipuShape(prisma);
  const suffix = randomUUID().slice(0, 8);
  const [tenantId, userId, projectId] = [randomUUID(), randomUUID(), randomUUID()];
  const email = `user-${suffix}@khipu.test`;
  const ttsKey = options.ttsKey === undefined ? `project-key-${suffix}` : options.ttsKey;
  const region = options.ttsRegion ?? 'eastus';
  const settings = !ttsKey
    ? {}
    : options.ttsKeyAt === 'creds'
      ? { creds: { tts: { azure: { key: ttsKey, region } } } }
      : { azure_tts_key: ttsKey, azure_tts_region: region };
  const role = options.role ?? 'creator';

  await prisma.$transaction([
    khipu
      ? prisma.$executeRaw`INSERT INTO tenants (id, name, subdomain, plan, is_active)
          VALUES (${tenantId}::uuid, ${`Tenant ${suffix}`}, ${`t-${suffix}`}, 'pro', ${options.tenantActive ?? true})`
      : prisma.$executeRaw`INSERT INTO tenants (id, name, subdomain, is_active)
          VALUES (${tenantId}::uuid, ${`Tenant ${suffix}`}, ${`t-${suffix}`}, ${options.tenantActive ?? true})`,
    khipu
      ? prisma.$executeRaw`INSERT INTO users (id, tenant_id, email, hashed_password, role, is_active)
          VALUES (${userId}::uuid, ${tenantId}::uuid, ${email}, 'not-a-real-hash', ${role}, ${options.userActive ?? true})`
      : prisma.$executeRaw`INSERT INTO users (id, tenant_id, email, role, is_active)
          VALUES (${userId}::uuid, ${tenantId}::uuid, ${email}, ${role}, ${options.userActive ?? true})`,
    // The settings go in as JSON text and take the column's type (jsonb here, json there).
    khipu
      ? prisma.$executeRaw`INSERT INTO projects (id, tenant_id, owner_id, title, language, status, settings)
          VALUES (${projectId}::uuid, ${tenantId}::uuid, ${userId}::uuid, ${`Book ${suffix}`}, 'es-PE', 'draft', ${JSON.stringify(settings)})`
      : prisma.$executeRaw`INSERT INTO projects (id, tenant_id, owner_id, title, settings)
          VALUES (${projectId}::uuid, ${tenantId}::uuid, ${userId}::uuid, ${`Book ${suffix}`}, ${JSON.stringify(settings)})`,
  ]);
  return {
    tenantId,
    userId,
    projectId,
    token: (claims = {}, tokenOptions = {}) =>
      signAccessToken(
        { secretKey: tokenOptions.secret ?? secret, algorithm: 'HS256' },
        { userId, email, expiresIn: tokenOptions.expiresIn ?? '30m', claims },
      ),
  };
}

/** Another project of the account's tenant, with these settings (stored as JSON, either column type). */
export async function createTestProject(
  prisma: PrismaClient,
  account: Pick<TestAccount, 'tenantId' | 'userId'>,
  settings: object,
): Promise<string> {
  const id = randomUUID();
  if (await isKhipuShape(prisma)) {
    await prisma.$executeRaw`INSERT INTO projects (id, tenant_id, owner_id, title, language, status, settings)
      VALUES (${id}::uuid, ${account.tenantId}::uuid, ${account.userId}::uuid, 'Another book', 'es-PE', 'draft', ${JSON.stringify(settings)})`;
  } else {
    await prisma.$executeRaw`INSERT INTO projects (id, tenant_id, owner_id, title, settings)
      VALUES (${id}::uuid, ${account.tenantId}::uuid, ${account.userId}::uuid, 'Another book', ${JSON.stringify(settings)})`;
  }
  return id;
}

/** Makes sure a tenant with this id exists (the Khipu database's audio_cache has a foreign key to it). */
export async function ensureTestTenant(prisma: PrismaClient, tenantId: string): Promise<void> {
  const name = `Tenant ${tenantId.slice(0, 8)}`;
  const subdomain = `t-${tenantId}`;
  if (await isKhipuShape(prisma)) {
    await prisma.$executeRaw`INSERT INTO tenants (id, name, subdomain, plan, is_active)
      VALUES (${tenantId}::uuid, ${name}, ${subdomain}, 'pro', true) ON CONFLICT (id) DO NOTHING`;
  } else {
    await prisma.$executeRaw`INSERT INTO tenants (id, name, subdomain, is_active)
      VALUES (${tenantId}::uuid, ${name}, ${subdomain}, true) ON CONFLICT (id) DO NOTHING`;
  }
}

const shapes = new WeakMap<PrismaClient, Promise<boolean>>();

/** Whether this database is the Khipu Cloud API's (projects.language exists only there). */
export function isKhipuShape(prisma: PrismaClient): Promise<boolean> {
  let known = shapes.get(prisma);
  if (!known) {
    known = prisma.$queryRaw<{ khipu: boolean }[]>`
      SELECT EXISTS (SELECT 1 FROM information_schema.columns
                      WHERE table_schema = current_schema() AND table_name = 'projects' AND column_name = 'language') AS khipu`.then(
      ([row]) => row?.khipu ?? false,
    );
    shapes.set(prisma, known);
  }
  return known;
}
