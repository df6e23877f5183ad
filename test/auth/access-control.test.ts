import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl } from '../../src/auth/access-control.ts';
import type { AccountDirectory } from '../../src/ports/account-directory.ts';
import { PrismaAccountDirectory } from '../../src/adapters/postgres/prisma-account-directory.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe('AccessControl: the short-lived cache of checks that passed (AUTH_CACHE_SECONDS)', () => {
  let services: TestServices;
  let directory: AccountDirectory & { userLookups: number; projectLookups: number };
  beforeAll(async () => {
    services = await createTestServices();
    const real = new PrismaAccountDirectory(services.db);
    directory = {
      userLookups: 0,
      projectLookups: 0,
      findActiveUser(id) {
        directory.userLookups++;
        return real.findActiveUser(id);
      },
      findProject(id) {
        directory.projectLookups++;
        return real.findProject(id);
      },
      findStorage: async () => null,
    };
  });
  afterAll(() => services.dispose());

  // The tokens are signed against the real clock (as the Khipu Cloud API would); the access
  // control reads a clock of the test's own that starts there and moves only when told.
  let clockMs = 0;
  const advance = (ms: number) => (clockMs += ms);
  const accessWith = (cacheMs: number) => {
    clockMs = Date.now();
    return new AccessControl(services.config.jwt, directory, { cacheMs, now: () => new Date(clockMs) });
  };
  const newAccount = () => createTestAccount(services.prisma, services.config.jwt.secretKey);
  const bearer = async (
    account: TestAccount,
    claims?: Record<string, unknown>,
    options?: { expiresIn?: string | number },
  ) => `Bearer ${await account.token(claims, options)}`;

  it('asks Postgres once per user and project while the cache lasts', async () => {
    const account = await newAccount();
    const access = accessWith(30_000);
    const authorization = await bearer(account);
    const before = { users: directory.userLookups, projects: directory.projectLookups };
    for (let i = 0; i < 5; i++) {
      const caller = await access.authenticate(authorization);
      expect(await access.authorizeProject(caller, account.projectId)).toMatchObject({
        id: account.projectId,
        tenantId: account.tenantId,
      });
    }
    expect(directory.userLookups - before.users).toBe(1);
    expect(directory.projectLookups - before.projects).toBe(1);
  });

  it('lets a deactivated user in only until the cache lapses', async () => {
    const account = await newAccount();
    const access = accessWith(300);
    const authorization = await bearer(account);
    await access.authenticate(authorization);
    await services.prisma.user.update({ where: { id: account.userId }, data: { isActive: false } });
    advance(299);
    await expect(access.authenticate(authorization)).resolves.toMatchObject({ userId: account.userId });
    advance(2);
    await expect(access.authenticate(authorization)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('moves a project to another tenant within the cache lifetime, and checks the tenant on every request', async () => {
    const owner = await newAccount();
    const other = await newAccount();
    const access = accessWith(300);
    const ownerCaller = await access.authenticate(await bearer(owner));
    const otherCaller = await access.authenticate(await bearer(other));
    await access.authorizeProject(ownerCaller, owner.projectId);
    // The cached project still belongs to its tenant: another tenant gets 404 even from the cache.
    await expect(access.authorizeProject(otherCaller, owner.projectId)).rejects.toMatchObject({ code: 'not-found' });
    await services.prisma.project.update({
      where: { id: owner.projectId },
      data: { tenantId: other.tenantId, ownerId: other.userId },
    });
    advance(301);
    await expect(access.authorizeProject(ownerCaller, owner.projectId)).rejects.toMatchObject({ code: 'not-found' });
    await expect(access.authorizeProject(otherCaller, owner.projectId)).resolves.toMatchObject({
      tenantId: other.tenantId,
    });
  });

  it('never remembers a failure: a user created after a refusal gets in at once', async () => {
    const account = await newAccount();
    const access = accessWith(30_000);
    const authorization = await bearer(account);
    await services.prisma.user.update({ where: { id: account.userId }, data: { isActive: false } });
    await expect(access.authenticate(authorization)).rejects.toMatchObject({ code: 'unauthorized' });
    await services.prisma.user.update({ where: { id: account.userId }, data: { isActive: true } });
    await expect(access.authenticate(authorization)).resolves.toMatchObject({ userId: account.userId });
  });

  it('never trusts a remembered token past its exp', async () => {
    const account = await newAccount();
    const access = accessWith(30_000);
    const authorization = await bearer(account, {}, { expiresIn: '2s' });
    await access.authenticate(authorization);
    advance(1_000);
    await expect(access.authenticate(authorization)).resolves.toMatchObject({ userId: account.userId });
    advance(1_100);
    await expect(access.authenticate(authorization)).rejects.toMatchObject({
      code: 'unauthorized',
      message: 'The access token has expired',
    });
  });

  it('with AUTH_CACHE_SECONDS=0 asks every time', async () => {
    const account = await newAccount();
    const access = accessWith(0);
    const authorization = await bearer(account);
    const before = directory.userLookups;
    await access.authenticate(authorization);
    await access.authenticate(authorization);
    expect(directory.userLookups - before).toBe(2);
  });
});
