import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTING_NAMES } from '../../src/config.ts';
import { filesUnder } from '../support/shipped-queries.ts';

// Offline checks of the azd project (azure.yaml, infra/). Bicep cannot be compiled here (no Bicep
// CLI), so these read the files as text: they catch a wrong name, a missing module, a stray key or
// GUID, not an invalid template. infra/README.md lists what only a real deployment can tell.

const root = path.resolve(__dirname, '../..');
const infraDir = path.join(root, 'infra');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const bicepFiles = (dir: string) => filesUnder(dir, '.bicep');

/** Bicep text without `//` line comments (a `//` inside 'https://...' is kept: it follows a colon). */
const withoutComments = (text: string) => text.replace(/(^|[\s,{[(])\/\/.*$/gm, '$1');

/** The `{ ... }` (or `[ ... ]`) that starts at the first match of `start`, braces balanced. */
function block(text: string, start: RegExp): string {
  const match = start.exec(text);
  if (!match) throw new Error(`no ${start} in the text`);
  const open = text.indexOf(match[0].endsWith('[') ? '[' : '{', match.index);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' || ch === '[') depth++;
    if (ch === '}' || ch === ']') depth--;
    if (depth === 0) return text.slice(open, i + 1);
  }
  throw new Error(`unbalanced block after ${start}`);
}

/** Keys (and their raw value text) of an object literal's top level. */
function topLevelEntries(objectText: string): Map<string, string> {
  const entries = new Map<string, string>();
  let depth = 0;
  for (const line of objectText.split('\n')) {
    if (depth === 1) {
      const m = /^\s*'?([A-Za-z_][\w-]*)'?\s*:\s*(.*)$/.exec(line);
      if (m) entries.set(m[1]!, m[2]!.trim());
    }
    for (const ch of line) {
      if (ch === '{' || ch === '[') depth++;
      if (ch === '}' || ch === ']') depth--;
    }
  }
  return entries;
}

/** `param` declarations of a Bicep file: name, whether @secure(), and the default text if any. */
function params(text: string) {
  const found = new Map<string, { secure: boolean; defaultValue: string | undefined }>();
  let secure = false;
  for (const line of text.split('\n')) {
    if (/^\s*@secure\(\)/.test(line)) secure = true;
    const m = /^\s*param\s+(\w+)\s+\w+(?:\s*=\s*(.+))?$/.exec(line);
    if (m) {
      found.set(m[1]!, { secure, defaultValue: m[2]?.trim() });
      secure = false;
    }
  }
  return found;
}

const functionAppFile = bicepFiles(infraDir).find((file) => /'Microsoft\.Web\/sites@/.test(read(path.relative(root, file))));
const functionApp = withoutComments(functionAppFile ? readFileSync(functionAppFile, 'utf8') : '');
const appSettings = topLevelEntries(block(functionApp, /var appSettings\s*=\s*\{/));
const main = withoutComments(read('infra/main.bicep'));
const storage = withoutComments(read('infra/modules/storage.bicep'));

const PLATFORM_SETTING = /^(AzureWebJobs|APPLICATIONINSIGHTS_|FUNCTIONS_|WEBSITE_)|^AZURE_CLIENT_ID$/;

describe('azure.yaml', () => {
  const project = parse(read('azure.yaml'));

  it('declares one Functions service, api, built from this folder as TypeScript', () => {
    expect(Object.keys(project.services)).toEqual(['api']);
    expect(project.services.api).toMatchObject({ project: '.', host: 'function', language: 'ts' });
    expect(project.infra ?? { path: 'infra' }).toMatchObject({ path: 'infra' });
  });

  it('runs prisma migrate deploy in a deployment hook, in sh and in pwsh, over TLS', () => {
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
    }
  });
});

describe('infra/*.bicep', () => {
  it('references only module files that exist', () => {
    const references = bicepFiles(infraDir).flatMap((file) =>
      [...withoutComments(readFileSync(file, 'utf8')).matchAll(/^\s*module\s+\w+\s+'([^']+)'/gm)].map((m) => ({
        from: path.relative(root, file),
        target: m[1]!,
      })),
    );
    expect(references.length).toBeGreaterThanOrEqual(7);
    for (const { from, target } of references) {
      if (target.startsWith('br/') || target.startsWith('br:') || target.startsWith('ts:')) continue;
      expect(existsSync(path.join(root, path.dirname(from), target)), `${from} -> ${target}`).toBe(true);
    }
  });

  it('passes each module only parameters it declares, and every one it requires', () => {
    const calls = [...main.matchAll(/^module\s+(\w+)\s+'([^']+)'/gm)];
    expect(calls.length).toBeGreaterThan(8);
    for (const [, name, target] of calls) {
      const declared = params(withoutComments(readFileSync(path.join(infraDir, target!), 'utf8')));
      const passed = [...topLevelEntries(block(main.slice(main.indexOf(`module ${name} `)), /params:\s*\{/)).keys()];
      expect(
        passed.filter((param) => !declared.has(param)),
        `${name} (${target}) is passed parameters it does not declare`,
      ).toEqual([]);
      const required = [...declared].filter(([, p]) => p.defaultValue === undefined).map(([param]) => param);
      expect(
        required.filter((param) => !passed.includes(param)),
        `${name} (${target}) misses parameters it requires`,
      ).toEqual([]);
    }
  });

  it('creates the resource group and tags of azd', () => {
    expect(main).toMatch(/^targetScope = 'subscription'$/m);
    expect(main).toMatch(/name: 'rg-\$\{environmentName\}'/);
    expect(main).toMatch(/'azd-env-name': environmentName/);
    for (const name of ['environmentName', 'location', 'principalId']) expect(params(main).has(name), name).toBe(true);
    expect(main).toMatch(/uniqueString\(subscription\(\)\.id, environmentName, location\)/);
    for (const output of [
      'AZURE_LOCATION',
      'AZURE_RESOURCE_GROUP',
      'AZURE_FUNCTION_APP_NAME',
      'SERVICE_API_ENDPOINTS',
      'AZURE_KEY_VAULT_NAME',
      'POSTGRES_HOST',
    ]) {
      expect(main, output).toMatch(new RegExp(`^output ${output} `, 'm'));
    }
    expect(main, 'no secret output').not.toMatch(/^output DATABASE_URL /m);
  });

  it('runs the function app on Flex Consumption (Node 24) as the user-assigned identity, tagged for azd', () => {
    expect(functionApp).toMatch(/name: 'FC1'/);
    expect(functionApp).toMatch(/tier: 'FlexConsumption'/);
    expect(functionApp).toMatch(/kind: 'functionapp,linux'/);
    expect(functionApp).toMatch(/'azd-service-name': 'api'/);
    expect(functionApp).toMatch(/httpsOnly: true/);
    expect(functionApp).toMatch(/minTlsVersion: '1\.2'/);
    expect(functionApp).toMatch(/ftpsState: 'Disabled'/);
    expect(functionApp).toMatch(/keyVaultReferenceIdentity: identityId/);
    const config = block(functionApp, /functionAppConfig:\s*\{/);
    expect(config).toMatch(/runtime:\s*\{\s*name: 'node'\s*version: '24'\s*\}/);
    expect(config).toMatch(/instanceMemoryMB: 2048/);
    expect(config).toMatch(/type: 'UserAssignedIdentity'\s*userAssignedIdentityResourceId: identityId/);
    expect(main).toMatch(/param maximumInstanceCount int = 40/);
  });

  it('gives the app the settings it needs, secrets as Key Vault references, and no storage connection string', () => {
    // The var is what the site applies.
    expect(functionApp).toMatch(/appSettings: \[for setting in items\(appSettings\)/);
    for (const name of [
      'DATABASE_URL',
      'JWT_SECRET_KEY',
      'AZURE_STORAGE_ACCOUNT_NAME',
      'AZURE_STORAGE_CONTAINER_NAME',
      'AZURE_CLIENT_ID',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
    ]) {
      expect([...appSettings.keys()], name).toContain(name);
    }
    expect([...appSettings.keys()]).not.toContain('AZURE_STORAGE_CONNECTION_STRING');
    expect(
      bicepFiles(infraDir)
        .map((f) => withoutComments(readFileSync(f, 'utf8')))
        .join('\n'),
    ).not.toMatch(/AZURE_STORAGE_CONNECTION_STRING|listKeys\(|AccountKey=/);
    expect(appSettings.get('DATABASE_URL')).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'$/);
    expect(appSettings.get('JWT_SECRET_KEY')).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{\w+\}\)'$/);
    expect(appSettings.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(appSettings.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    expect(appSettings.get('AZURE_CLIENT_ID')).toMatch(/^identityClientId\b/);
    expect(appSettings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(appSettings.get('CACHE_TTL_DAYS')).toBe('string(cacheTtlDays)');
  });

  it('sets only app settings that src/config.ts reads, besides host and platform ones', () => {
    const appOwn = [...appSettings.keys()].filter((name) => !PLATFORM_SETTING.test(name));
    expect(appOwn.length).toBeGreaterThan(5);
    for (const name of appOwn) expect(SETTING_NAMES as readonly string[], name).toContain(name);
  });

  it('sets only app settings the README documents, besides host and platform ones', () => {
    const readme = read('README.md');
    const undocumented = [...appSettings.keys()].filter((name) => !PLATFORM_SETTING.test(name) && !readme.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });

  it('stores blobs without shared keys or public access, and expires audio TTL + 7 days after its last write', () => {
    expect(storage).toMatch(/allowSharedKeyAccess: false/);
    expect(storage).toMatch(/allowBlobPublicAccess: false/);
    expect(storage).toMatch(/minimumTlsVersion: 'TLS1_2'/);
    expect(storage).toMatch(/publicAccess: 'None'/);
    const rule = block(storage, /'Microsoft\.Storage\/storageAccounts\/managementPolicies@[\d-]+' = \{/);
    expect(rule).toMatch(/blobTypes:\s*\[\s*'blockBlob'\s*\]/);
    // {container}/ + the blob layout's audio-cache/{tenant_id}/{cache_key}.mp3
    expect(rule).toMatch(/prefixMatch:\s*\[\s*'\$\{containerName\}\/audio-cache\/'\s*\]/);
    expect(rule).toMatch(/daysAfterModificationGreaterThan: cacheTtlDays \+ 7\s*$/m);
    expect(params(storage).has('cacheTtlDays')).toBe(true);
    expect(main).toMatch(/param cacheTtlDays int = 30/);
    expect(main).toMatch(/param containerName string = 'audio-cache'/);
    const storageModule = block(main, /module storage '[^']+' = \{/);
    expect(storageModule).toMatch(/cacheTtlDays: cacheTtlDays/);
    expect(storageModule).toMatch(/containerName: containerName/);
    expect(read('README.md')).toContain('audio-cache/{tenant_id}/{cache_key}.mp3');
  });

  it('keeps PostgreSQL 16 on TLS, reachable from Azure and optionally from the deployer', () => {
    const postgres = withoutComments(read('infra/modules/postgres.bicep'));
    expect(postgres).toMatch(/version: '16'/);
    expect(postgres).not.toMatch(/require_secure_transport/);
    expect(postgres).toMatch(/startIpAddress: '0\.0\.0\.0'\s*endIpAddress: '0\.0\.0\.0'/);
    expect(postgres).toMatch(/= if \(!empty\(deployerIpAddress\)\)/);
    expect(main).toMatch(/param postgresDatabaseName string = 'khipu_cloud'/);
    expect(main).toMatch(/param postgresSkuName string = 'Standard_B2s'/);
    expect(withoutComments(read('infra/modules/keyvault.bicep'))).toMatch(/'postgresql:\/\/[^']*\?sslmode=require'/);
  });

  it('assigns built-in roles by their real GUIDs, and each role the app needs', () => {
    const expected: Record<string, string> = {
      storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe', // Storage Blob Data Contributor
      storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', // Storage Blob Data Owner
      storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88', // Storage Queue Data Contributor
      storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', // Storage Table Data Contributor
      keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6', // Key Vault Secrets User
      keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7', // Key Vault Secrets Officer (deployer)
      monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb', // Monitoring Metrics Publisher
    };
    const rbac = withoutComments(read('infra/modules/rbac.bicep'));
    const roles = topLevelEntries(block(rbac, /var roles\s*=\s*\{/));
    expect(Object.fromEntries([...roles].map(([key, value]) => [key, value.replace(/'/g, '')]))).toEqual(expected);
    // Every GUID literal anywhere in infra/ is one of these.
    const allGuids = bicepFiles(infraDir).flatMap((f) => readFileSync(f, 'utf8').match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? []);
    for (const guid of allGuids) expect(Object.values(expected), guid).toContain(guid.toLowerCase());
    // The app identity gets every app role; each key is used outside its declaration.
    const appStorageRoles = block(rbac, /var appStorageRoles\s*=\s*\[/);
    for (const key of ['storageBlobDataContributor', 'storageBlobDataOwner', 'storageQueueDataContributor', 'storageTableDataContributor']) {
      expect(appStorageRoles, key).toContain(`roles.${key}`);
    }
    for (const key of Object.keys(expected)) expect(rbac.split(`roles.${key}`).length - 1, key).toBeGreaterThanOrEqual(1);
    expect(rbac).toMatch(/scope: vault[\s\S]*roles\.keyVaultSecretsUser[\s\S]*principalId: principalId/);
    expect(rbac).toMatch(/scope: appInsights[\s\S]*roles\.monitoringMetricsPublisher/);
  });

  it('keeps Key Vault on RBAC with soft delete, holding the two secrets the app references', () => {
    const vault = withoutComments(read('infra/modules/keyvault.bicep'));
    expect(vault).toMatch(/enableRbacAuthorization: true/);
    expect(vault).toMatch(/enableSoftDelete: true/);
    expect(vault).toMatch(/name: 'jwt-secret-key'/);
    expect(vault).toMatch(/name: 'database-url'/);
    expect(vault).toMatch(/name: 'azure-speech-key'/);
  });
});

describe('the connection budget in infra/main.bicep', () => {
  const skus = new Map(
    [...block(main, /var postgresSkus\s*=\s*\{/).matchAll(/^\s*(\w+): \{ tier: '(\w+)', maxConnections: (\d+) \}/gm)].map((m) => [
      m[1]!,
      { tier: m[2]!, maxConnections: Number(m[3]) },
    ]),
  );
  const declared = params(read('infra/main.bicep'));
  const defaultOf = (name: string) => declared.get(name)?.defaultValue ?? '';
  const reserved = Number(/var postgresAzureReservedConnections = (\d+)/.exec(main)?.[1]);
  /** The formula main.bicep applies at deployment, evaluated here for given parameters. */
  const fits = (p: { instances: number; poolMax: number; headroom: number; sku: string }) =>
    p.instances * p.poolMax + p.headroom <= skus.get(p.sku)!.maxConnections - reserved;
  const defaults = {
    instances: Number(defaultOf('maximumInstanceCount')),
    poolMax: Number(defaultOf('databasePoolMax')),
    headroom: Number(defaultOf('postgresConnectionHeadroom')),
    sku: defaultOf('postgresSkuName').replace(/'/g, ''),
  };

  it("lists each compute size with its tier and default max_connections (Azure's limits page), and the 15 Azure keeps", () => {
    expect(skus.get('Standard_B1ms')).toEqual({ tier: 'Burstable', maxConnections: 50 });
    expect(skus.get('Standard_B2s')).toEqual({ tier: 'Burstable', maxConnections: 429 });
    expect(skus.get('Standard_D2ds_v5')).toEqual({ tier: 'GeneralPurpose', maxConnections: 859 });
    expect(skus.size).toBeGreaterThanOrEqual(8);
    for (const [name, sku] of skus)
      expect(name.startsWith({ Burstable: 'Standard_B', GeneralPurpose: 'Standard_D', MemoryOptimized: 'Standard_E' }[sku.tier]!), name).toBe(true);
    expect(reserved).toBe(15);
    // The tier is the SKU's, not a second parameter that could disagree with it.
    expect(main).toMatch(/skuTier: postgresSku\.tier/);
    expect(declared.has('postgresSkuTier')).toBe(false);
  });

  it('fails the deployment when instances × DATABASE_POOL_MAX + headroom exceed the server, and says why', () => {
    expect(main).toMatch(/var postgresSku = postgresSkus\[\?postgresSkuName\] \?\? fail\('/);
    expect(main).toMatch(/var connectionBudget = maximumInstanceCount \* databasePoolMax \+ postgresConnectionHeadroom/);
    expect(main).toMatch(/var postgresUsableConnections = postgresSku\.maxConnections - postgresAzureReservedConnections/);
    expect(main).toMatch(/var connectionBudgetCheck = connectionBudget <= postgresUsableConnections\s*\?[^:]+:\s*fail\('Connection budget exceeded: /);
    // Used by an output, so the deployment evaluates it.
    expect(main).toMatch(/output DATABASE_CONNECTION_BUDGET string = connectionBudgetCheck/);
  });

  it('holds for the defaults, and would stop the old default server (B1ms) at deployment', () => {
    expect(defaults).toEqual({ instances: 40, poolMax: 5, headroom: 50, sku: 'Standard_B2s' });
    expect(fits(defaults)).toBe(true); // 250 of 414
    expect(fits({ ...defaults, sku: 'Standard_B1ms' })).toBe(false); // 250 of 35
    expect(fits({ ...defaults, instances: 73 })).toBe(false); // 415 of 414
  });

  it('gives the app the same DATABASE_POOL_MAX the check counts', () => {
    expect(appSettings.get('DATABASE_POOL_MAX')).toBe('string(databasePoolMax)');
    expect(block(main, /module api 'modules\/function-app\.bicep' = \{/)).toMatch(/databasePoolMax: databasePoolMax/);
    expect(declared.get('databasePoolMax')).toBeDefined();
  });

  it('is the table the README sizes the server by', () => {
    const readme = read('README.md');
    for (const [name, sku] of skus)
      expect(readme, name).toMatch(new RegExp(`\\| \`${name}\` \\| ${sku.tier} \\| ${sku.maxConnections.toLocaleString('en-US')} \\|`));
  });
});

describe('infra/main.parameters.json', () => {
  const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
  const declared = params(main);

  it('maps azd environment values onto declared parameters, with no literal values', () => {
    expect(file.parameters.environmentName?.value).toBe('${AZURE_ENV_NAME}');
    expect(file.parameters.location?.value).toBe('${AZURE_LOCATION}');
    expect(file.parameters.principalId?.value).toBe('${AZURE_PRINCIPAL_ID}');
    for (const [name, { value }] of Object.entries(file.parameters)) {
      expect(declared.has(name), `${name} is a parameter of main.bicep`).toBe(true);
      expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}$/);
    }
  });

  it('takes every secure parameter from an azd environment variable, with no default anywhere', () => {
    const secure = [...declared].filter(([, p]) => p.secure);
    expect(secure.map(([name]) => name)).toEqual(expect.arrayContaining(['jwtSecretKey', 'postgresAdminPassword']));
    for (const [name, p] of secure) {
      expect(file.parameters[name]?.value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*\}$/);
      // Only an optional secret may default, and only to empty.
      expect([undefined, "''"], name).toContain(p.defaultValue);
    }
    expect(file.parameters.jwtSecretKey?.value).toBe('${JWT_SECRET_KEY}');
    expect(file.parameters.postgresAdminPassword?.value).toBe('${POSTGRES_ADMIN_PASSWORD}');
    expect(declared.get('jwtSecretKey')?.defaultValue).toBeUndefined();
    expect(declared.get('postgresAdminPassword')?.defaultValue).toBeUndefined();
  });
});
