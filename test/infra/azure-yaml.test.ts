import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { root } from '../support/repo.ts';

// azure.yaml, the azd project: one Functions service and the migration hook. What the service
// uploads is checked in test/tools/package.test.ts; the infrastructure in test/infra/bicep.test.ts;
// the app's role the hook applies in test/tools/db/app-role.test.ts.

const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('azure.yaml', () => {
  const project = parse(read('azure.yaml'));

  it('declares one Functions service, api, built from this folder as TypeScript', () => {
    expect(Object.keys(project.services)).toEqual(['api']);
    expect(project.services.api).toMatchObject({ project: '.', host: 'function', language: 'ts' });
    expect(project.infra ?? { path: 'infra' }).toMatchObject({ path: 'infra' });
  });

  it('runs prisma migrate deploy, then the app role, in a deployment hook, in sh and in pwsh, over TLS', () => {
    const hook = project.hooks?.predeploy ?? project.hooks?.postprovision;
    expect(hook, 'a predeploy or postprovision hook').toBeDefined();
    expect(hook.posix.shell).toBe('sh');
    expect(hook.windows.shell).toBe('pwsh');
    for (const variant of [hook.posix, hook.windows]) {
      expect(variant.run).toMatch(/npx prisma migrate deploy/);
      expect(variant.run).toMatch(/sslmode=require/);
      // Built from azd outputs plus the password the deployer set, never a literal.
      expect(variant.run).toMatch(/POSTGRES_HOST/);
      expect(variant.run).toMatch(/POSTGRES_ADMIN_PASSWORD/);
      // The role after the migrations (a table they add is granted in the same run), as the admin.
      expect(variant.run.indexOf('npm run --silent db:app-role')).toBeGreaterThan(
        variant.run.indexOf('npx prisma migrate deploy'),
      );
      expect(variant.run).toMatch(/POSTGRES_APP_PASSWORD/);
      expect(variant.run).toMatch(/POSTGRES_APP_LOGIN/);
    }
  });
});
