import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaAccountDirectory } from '../../../src/adapters/postgres/prisma-account-directory.ts';
import type { Database, PrismaClient } from '../../../src/adapters/postgres/prisma-client.ts';
import { testDb } from '../../support/required-deps.ts';
import { describeAccountDirectoryContract } from '../../ports/account-directory.contract.ts';
import { createTestAccount, createTestProject } from '../../support/accounts.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

// The token secret of the seeded accounts: no token is signed here.
const SECRET = 'unused-secret';

for (const shape of DATABASE_SHAPES) {
  describe(`PrismaAccountDirectory on the ${shape} database`, () => {
    let database: TestDatabase;
    let db: Database;
    let prisma: PrismaClient;
    beforeAll(async () => {
      database = await createTestDatabase(shape === 'khipu' ? 'khipu' : 'migrated');
      db = testDb(database.url, { maxConnections: 2 });
      prisma = await db.client();
    });
    afterAll(async () => {
      await db.close();
      await database.drop();
    });

    describeAccountDirectoryContract(`PrismaAccountDirectory, ${shape} database`, async () => ({
      directory: new PrismaAccountDirectory(db),
      addAccount: async (options = {}) => {
        const { tenantId, userId } = await createTestAccount(prisma, SECRET, { ...options, ttsKey: null });
        return { tenantId, userId };
      },
      addProject: (account, settings) => createTestProject(prisma, account, settings),
      deactivateUser: async (userId) => {
        await prisma.$executeRaw`UPDATE users SET is_active = false WHERE id = ${userId}::uuid`;
      },
      deactivateTenant: async (tenantId) => {
        await prisma.$executeRaw`UPDATE tenants SET is_active = false WHERE id = ${tenantId}::uuid`;
      },
    }));

    it('reads a project whose settings column is SQL NULL as one without a key', async () => {
      const directory = new PrismaAccountDirectory(db);
      const account = await createTestAccount(prisma, SECRET, { ttsKey: null });
      await prisma.$executeRaw`UPDATE projects SET settings = NULL WHERE id = ${account.projectId}::uuid`;
      expect(await directory.findProject(account.projectId)).toEqual({
        id: account.projectId,
        tenantId: account.tenantId,
      });
    });

    if (shape === 'khipu') {
      it('takes a user or tenant whose is_active is NULL (the Khipu columns allow it) as inactive', async () => {
        const directory = new PrismaAccountDirectory(db);
        const nullUser = await createTestAccount(prisma, SECRET, { ttsKey: null });
        const nullTenant = await createTestAccount(prisma, SECRET, { ttsKey: null });
        await prisma.$executeRaw`UPDATE users SET is_active = NULL WHERE id = ${nullUser.userId}::uuid`;
        await prisma.$executeRaw`UPDATE tenants SET is_active = NULL WHERE id = ${nullTenant.tenantId}::uuid`;
        expect(await directory.findActiveUser(nullUser.userId)).toBeNull();
        expect(await directory.findActiveUser(nullTenant.userId)).toBeNull();
      });
    }
  });
}
