import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';

describe('HealthCheck (the app’s, as services.ts builds it)', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices();
  });
  afterAll(() => services.dispose());

  it('reports both dependencies ok when Postgres and Blob Storage answer', async () => {
    const report = await services.health.check();
    expect(report).toEqual({
      healthy: true,
      checks: { database: 'ok', blobStorage: 'ok', projectStorage: 'ok' },
      failingProjectAccounts: 0,
      failures: {},
    });
  });

  it('names the dependency that is down, and keeps the reason for the log', async () => {
    const deadBlob = createServices(
      parseConfig(
        testSettings(services.database.url, {
          AZURE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'),
        }),
      ),
    );
    const deadDatabase = createServices(
      parseConfig(testSettings(services.database.url.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'))),
    );
    try {
      const blobDown = await deadBlob.health.check();
      expect(blobDown.checks).toEqual({ database: 'ok', blobStorage: 'failed', projectStorage: 'ok' });
      expect(blobDown.healthy).toBe(false);
      expect(String(blobDown.failures.blobStorage)).toMatch(/ECONNREFUSED|no answer/);

      const databaseDown = await deadDatabase.health.check();
      expect(databaseDown.checks).toEqual({ database: 'failed', blobStorage: 'ok', projectStorage: 'ok' });
      expect(databaseDown.failures.database).toBeDefined();
    } finally {
      await Promise.all([deadBlob.close(), deadDatabase.close()]);
    }
  });
});
