import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, parseConfig, SETTING_NAMES } from '../../src/config.ts';
import { bicepCli } from '../../tools/infra/bicep.ts';
import {
  checkInfra,
  checkParameterFile,
  DATE_DEPENDENT_RULE,
  type ArmTemplate,
  type InfraCheck,
} from '../../tools/infra/check.ts';
import {
  allResources,
  moduleOf,
  moduleOutput,
  outputOf,
  parameterName,
  resourceOf,
  resourcesOf,
  valueByDefault,
} from '../support/arm-template.ts';
import { evaluateVariables, stringValue } from '../support/bicep-console.ts';
import { allDocs } from '../support/docs.ts';
import { alertQueries, workbookQueries } from '../support/shipped-queries.ts';
import { root } from '../support/repo.ts';

// infra/ compiled and linted by the real Bicep CLI (restored from NuGet by tools/infra/bicep.ts),
// then the compiled ARM JSON checked for what a Flex Consumption Function App needs. Without a
// .NET SDK this is skipped with one line, except under CI=true, where it must run.

const cli = bicepCli();
const requiredHere = process.env.CI === 'true';
if (!cli.available) console.log(`test/infra/bicep.test.ts: skipped: ${cli.reason}`);
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

describe('the Bicep CLI', () => {
  it.runIf(requiredHere)('is restored from NuGet under CI=true (a missing compiler fails the run)', () => {
    expect(cli).toMatchObject({ available: true });
  });
});

describe.runIf(cli.available)('infra/, compiled and linted by the Bicep CLI', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'khipu-bicep-'));
  let check: InfraCheck;
  let main: ArmTemplate;
  beforeAll(() => {
    if (!cli.available) return;
    check = checkInfra({ cli, outFile: path.join(scratch, 'main.json') });
    main = check.template;
    if (check.review.length > 0)
      console.log(
        `infra: ${check.review.length} ${DATE_DEPENDENT_RULE} warnings to review (npm run infra:check lists them)`,
      );
  }, 180_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('compiles every file and lints it with no error, and no warning but those infra/README.md accepts', () => {
    expect(check.problems).toEqual([]);
    expect(check.diagnostics.filter((d) => d.level === 'error')).toEqual([]);
    expect(main.resources.length).toBeGreaterThan(5);
  });

  it('catches what it is here for: a misspelt property in a module, a parameter of the wrong type', () => {
    if (!cli.available) return;
    const copy = path.join(scratch, 'broken');
    cpSync(path.join(root, 'infra'), copy, { recursive: true });
    const edit = (file: string, from: string, to: string) => {
      const text = readFileSync(path.join(copy, file), 'utf8');
      expect(text, file).toContain(from);
      writeFileSync(path.join(copy, file), text.replace(from, to));
    };
    edit('modules/storage.bicep', 'allowSharedKeyAccess: false', 'allowSharedKeyAcess: false');
    edit('main.bicep', 'cacheTtlDays: cacheTtlDays', "cacheTtlDays: '30'");
    const broken = checkInfra({ cli, infraDir: copy, outFile: path.join(scratch, 'broken.json') });
    expect(broken.problems.join('\n')).toMatch(
      /modules\/storage\.bicep:\d+ warning BCP\d+: The property "allowSharedKeyAcess" is not allowed/,
    );
    expect(broken.problems.join('\n')).toMatch(
      /main\.bicep:\d+ error BCP\d+: The property "cacheTtlDays" expected a value of type "int"/,
    );
  }, 180_000);

  describe('infra/main.parameters.json (azd fills it from the environment)', () => {
    it('names only parameters main.bicep declares and supplies every one without a default (checked with the template)', () => {
      const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
      const declared = Object.keys(main.parameters);
      for (const name of Object.keys(file.parameters)) expect(declared, name).toContain(name);
      const withoutDefault = declared.filter((name) => main.parameters[name]!.defaultValue === undefined);
      expect(withoutDefault.sort()).toEqual([
        'environmentName',
        'jwtSecretKey',
        'location',
        'postgresAdminPassword',
        'postgresAppPassword',
      ]);
      for (const name of withoutDefault) expect(file.parameters[name]?.value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*\}$/);
    });

    it('would catch a name the template lacks, a required parameter not supplied, a default of the wrong type', () => {
      const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
      const { jwtSecretKey: _dropped, ...rest } = file.parameters;
      const problems = checkParameterFile(
        {
          parameters: {
            ...rest,
            maximumInstanceCount: { value: '${MAX_INSTANCES=forty}' },
            cacheTtlDay: { value: '${CACHE_TTL_DAYS}' },
          },
        },
        main,
      );
      expect(problems).toEqual([
        'main.parameters.json: maximumInstanceCount\'s default "forty" is not of its type, int',
        'main.parameters.json sets cacheTtlDay, which main.bicep does not declare',
        'main.bicep requires jwtSecretKey, which main.parameters.json does not supply',
      ]);
    });

    it('takes each secret from an azd environment variable, as a secure parameter with no default but empty', () => {
      const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
      const secure = Object.entries(main.parameters).filter(([, p]) => p.type === 'securestring');
      expect(secure.map(([name]) => name).sort()).toEqual([
        'azureSpeechKey',
        'jwtSecretKey',
        'postgresAdminPassword',
        'postgresAppPassword',
      ]);
      for (const [name, p] of secure) {
        expect(file.parameters[name]?.value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*\}$/);
        expect([undefined, ''], name).toContain(p.defaultValue);
      }
    });
  });

  describe('the Function App (module api)', () => {
    const api = () => moduleOf(main, 'api');
    const site = () => resourceOf(api().template, 'Microsoft.Web/sites');
    const appSettings = () => api().template.variables!.appSettings as Record<string, string>;
    /** The value main.bicep gives an app setting written `[parameters('x')]` or `[string(parameters('x'))]` in the module, with its defaults. */
    const defaultOfSetting = (value: string): string | undefined => {
      const inner = /^\[(?:string\()?parameters\('(\w+)'\)\)?\]$/.exec(value)?.[1];
      if (!inner) return /^\[/.test(value) ? undefined : value;
      const fromMain = parameterName(api().parameters[inner]);
      const fallback = fromMain
        ? main.parameters[fromMain]?.defaultValue
        : api().template.parameters[inner]?.defaultValue;
      return typeof fallback === 'string' || typeof fallback === 'number' || typeof fallback === 'boolean'
        ? String(fallback)
        : undefined;
    };

    it('runs on Flex Consumption (FC1, Linux), Node 24, 2048 MB instances, at most maximumInstanceCount (40) of them, as infra/README.md says', () => {
      const plan = resourceOf(api().template, 'Microsoft.Web/serverfarms');
      expect(plan).toMatchObject({
        kind: 'functionapp',
        sku: { name: 'FC1', tier: 'FlexConsumption' },
        properties: { reserved: true },
      });
      expect(site()).toMatchObject({
        kind: 'functionapp,linux',
        properties: { httpsOnly: true, siteConfig: { minTlsVersion: '1.2', ftpsState: 'Disabled' } },
      });
      const config = (site().properties as { functionAppConfig: Record<string, Record<string, unknown>> })
        .functionAppConfig;
      expect(config.runtime).toEqual({ name: 'node', version: '24' });
      expect(config.scaleAndConcurrency).toEqual({
        instanceMemoryMB: 2048,
        maximumInstanceCount: "[parameters('maximumInstanceCount')]",
      });
      expect(api().parameters.maximumInstanceCount).toBe("[parameters('maximumInstanceCount')]");
      expect(main.parameters.maximumInstanceCount?.defaultValue).toBe(40);
      expect(read('infra/README.md')).toContain(
        'Node 24, 2048 MB instances, at most `maximumInstanceCount` (40) instances',
      );
      expect(site().tags).toMatch(/'azd-service-name', 'api'/);
    });

    it('applies the module’s appSettings and none that Flex Consumption refuses', () => {
      const copy = (site().properties as { siteConfig: { copy: { name: string; count: string }[] } }).siteConfig.copy;
      expect(copy).toEqual([
        expect.objectContaining({ name: 'appSettings', count: "[length(items(variables('appSettings')))]" }),
      ]);
      // Flex Consumption sets these itself from functionAppConfig, or has no use for them.
      const refused = [
        'FUNCTIONS_EXTENSION_VERSION',
        'FUNCTIONS_WORKER_RUNTIME',
        'FUNCTIONS_WORKER_RUNTIME_VERSION',
        'FUNCTIONS_MAX_HTTP_CONCURRENCY',
        'FUNCTIONS_WORKER_PROCESS_COUNT',
        'FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED',
        'SCALE_CONTROLLER_SCALING_ENABLED',
        'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
        'WEBSITE_CONTENTOVERVNET',
        'WEBSITE_CONTENTSHARE',
        'WEBSITE_DNS_SERVER',
        'WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT',
        'WEBSITE_NODE_DEFAULT_VERSION',
        'WEBSITE_RUN_FROM_PACKAGE',
        'WEBSITE_SKIP_CONTENTSHARE_VALIDATION',
        'WEBSITE_VNET_ROUTE_ALL',
      ];
      expect(Object.keys(appSettings()).filter((name) => refused.includes(name))).toEqual([]);
      // The host reaches its storage with the identity: no connection string, no key.
      expect(appSettings()).toMatchObject({ AzureWebJobsStorage__credential: 'managedidentity' });
      expect(Object.keys(appSettings())).not.toContain('AzureWebJobsStorage');
      expect(JSON.stringify(main)).not.toMatch(/listKeys|AccountKey=|AZURE_STORAGE_CONNECTION_STRING/);
    });

    it('sets every setting src/config.ts requires, secrets as Key Vault references to secrets the template creates', () => {
      let problems: string[] = [];
      try {
        parseConfig({});
      } catch (error) {
        problems = (error as ConfigError).problems;
      }
      const required = problems.map((p) => p.split(' is required')[0]!);
      expect(required).toEqual([
        'DATABASE_URL',
        'JWT_SECRET_KEY',
        'AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME',
      ]);
      expect(appSettings().AZURE_STORAGE_ACCOUNT_NAME).toBe("[parameters('cacheStorageAccountName')]");
      expect(moduleOutput(api().parameters.cacheStorageAccountName)).toEqual({
        module: 'cache-storage',
        output: 'name',
      });

      const vault = moduleOf(main, 'keyvault').template;
      for (const [setting, secret] of [
        ['DATABASE_URL', 'database-url'],
        ['JWT_SECRET_KEY', 'jwt-secret-key'],
      ] as const) {
        const reference = /^\[format\('@Microsoft\.KeyVault\(SecretUri=\{0\}\)', parameters\('(\w+)'\)\)\]$/.exec(
          appSettings()[setting]!,
        );
        expect(reference, setting).not.toBeNull();
        const source = moduleOutput(api().parameters[reference![1]!]);
        expect(source?.module, setting).toBe('keyvault');
        expect(outputOf(vault, source!.output), setting).toContain(
          `'Microsoft.KeyVault/vaults/secrets', parameters('name'), '${secret}'`,
        );
        const created = resourcesOf(vault, 'Microsoft.KeyVault/vaults/secrets').find((r) =>
          r.name.includes(`'${secret}'`),
        );
        expect(created?.condition, `${secret} is always created`).toBeUndefined();
      }
      // Resolved as the platform's identity (the one with Key Vault Secrets User).
      expect((site().properties as Record<string, unknown>).keyVaultReferenceIdentity).toBe(
        "[parameters('hostIdentityId')]",
      );
    });

    it('sets only settings src/config.ts reads (besides the host’s own), with values it accepts', () => {
      const platform = /^(AzureWebJobs|APPLICATIONINSIGHTS_|FUNCTIONS_|WEBSITE_)|^AZURE_CLIENT_ID$/;
      const own = Object.keys(appSettings()).filter((name) => !platform.test(name));
      // So each is documented too: test/layout.test.ts checks every setting src/config.ts reads is in the docs.
      expect(own.filter((name) => !(SETTING_NAMES as readonly string[]).includes(name))).toEqual([]);
      // What the deployed app reads with the template's defaults: literal values and parameters
      // at their defaults; what only a deployment knows (names, Key Vault values) as samples.
      const env: Record<string, string> = {
        DATABASE_URL:
          'postgresql://khipu_audition_cache:secret@psql-x.postgres.database.azure.com:6432/khipu_cloud?sslmode=require',
        JWT_SECRET_KEY: 'the-khipu-cloud-api-secret',
        AZURE_STORAGE_ACCOUNT_NAME: 'stcacheabc123',
        AZURE_STORAGE_CONTAINER_NAME: 'audio-cache',
      };
      for (const name of own) {
        const value = defaultOfSetting(appSettings()[name]!);
        if (value !== undefined) env[name] = value;
      }
      expect(Object.keys(env).length).toBeGreaterThan(15);
      const config = parseConfig(env);
      expect(config).toMatchObject({
        databasePoolMax: 5,
        cache: { ttlDays: 30, maxEntriesPerTenant: 10_000, cleanupSchedule: '0 0 * * * *' },
      });
      expect(config.blobStorage).toEqual({
        kind: 'identity',
        accountUrl: 'https://stcacheabc123.blob.core.windows.net',
        containerName: 'audio-cache',
      });
    });

    it('deploys its package from a container of the host’s storage account, reached as the platform’s identity', () => {
      const deployment = (
        site().properties as { functionAppConfig: { deployment: { storage: Record<string, unknown> } } }
      ).functionAppConfig.deployment.storage;
      expect(deployment).toEqual({
        type: 'blobContainer',
        value: "[format('{0}{1}', parameters('hostStorageBlobEndpoint'), parameters('deploymentContainerName'))]",
        authentication: {
          type: 'UserAssignedIdentity',
          userAssignedIdentityResourceId: "[parameters('hostIdentityId')]",
        },
      });
      expect(moduleOutput(api().parameters.hostStorageBlobEndpoint)).toEqual({
        module: 'storage',
        output: 'blobEndpoint',
      });
      const storage = moduleOf(main, 'storage');
      expect(storage.parameters.deploymentContainerName).toBe(api().parameters.deploymentContainerName);
      const containers = resourcesOf(storage.template, 'Microsoft.Storage/storageAccounts/blobServices/containers');
      expect(containers.map((c) => c.name)).toEqual([
        "[format('{0}/{1}/{2}', parameters('name'), 'default', parameters('deploymentContainerName'))]",
      ]);
      for (const c of containers) expect(c.properties).toMatchObject({ publicAccess: 'None' });
    });

    it('runs as two identities: the platform’s (host storage, deployment, Key Vault references, telemetry) and the app code’s (AZURE_CLIENT_ID)', () => {
      expect(Object.keys((site().identity as { userAssignedIdentities: object }).userAssignedIdentities)).toEqual([
        "[format('{0}', parameters('identityId'))]",
        "[format('{0}', parameters('hostIdentityId'))]",
      ]);
      expect(moduleOutput(api().parameters.identityId)).toEqual({ module: 'identity', output: 'id' });
      expect(moduleOutput(api().parameters.identityClientId)).toEqual({ module: 'identity', output: 'clientId' });
      expect(moduleOutput(api().parameters.hostIdentityId)).toEqual({ module: 'host-identity', output: 'id' });
      expect(moduleOutput(api().parameters.hostIdentityClientId)).toEqual({
        module: 'host-identity',
        output: 'clientId',
      });
      expect(appSettings()).toMatchObject({
        AZURE_CLIENT_ID: "[parameters('identityClientId')]",
        AzureWebJobsStorage__clientId: "[parameters('hostIdentityClientId')]",
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
          "[format('ClientId={0};Authorization=AAD', parameters('hostIdentityClientId'))]",
      });
      expect((site().properties as Record<string, unknown>).keyVaultReferenceIdentity).toBe(
        "[parameters('hostIdentityId')]",
      );
      // The role assignments name the same two.
      const rbac = moduleOf(main, 'rbac').parameters;
      expect(moduleOutput(rbac.principalId)).toEqual({ module: 'identity', output: 'principalId' });
      expect(moduleOutput(rbac.hostPrincipalId)).toEqual({ module: 'host-identity', output: 'principalId' });
    });

    it('never sets PROJECT_STORAGE_ALLOW_ANY_ENDPOINT (development only), and would say so if it did', () => {
      const forbidden = (settings: Record<string, string>) =>
        Object.keys(settings).filter((name) => /^PROJECT_STORAGE_ALLOW_ANY_ENDPOINT$/i.test(name));
      expect(forbidden(appSettings())).toEqual([]);
      expect(JSON.stringify(main)).not.toMatch(/PROJECT_STORAGE_ALLOW_ANY_ENDPOINT/i);
      expect(forbidden({ ...appSettings(), PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: 'true' })).toEqual([
        'PROJECT_STORAGE_ALLOW_ANY_ENDPOINT',
      ]);
    });
  });

  describe('storage, Key Vault and PostgreSQL', () => {
    const storageAccount = (module: string) =>
      resourceOf(moduleOf(main, module).template, 'Microsoft.Storage/storageAccounts').properties;

    it('keeps the cache in an account of its own: the host’s holds the deployment package only', () => {
      expect(moduleOf(main, 'storage').resource.properties?.parameters).not.toHaveProperty('containerName');
      expect(
        resourcesOf(moduleOf(main, 'storage').template, 'Microsoft.Storage/storageAccounts/managementPolicies'),
      ).toEqual([]);
      const names = [moduleOf(main, 'storage'), moduleOf(main, 'cache-storage')].map((m) => m.parameters.name);
      expect(names).toEqual([
        "[format('st{0}', variables('resourceToken'))]",
        "[format('stcache{0}', variables('resourceToken'))]",
      ]);
      const cache = moduleOf(main, 'cache-storage');
      expect(
        resourcesOf(cache.template, 'Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => c.name),
      ).toEqual(["[format('{0}/{1}/{2}', parameters('name'), 'default', parameters('containerName'))]"]);
      // What the app is told, and what azd reports, is the cache's account and container.
      const api = moduleOf(main, 'api');
      expect(moduleOutput(api.parameters.cacheStorageAccountName)).toEqual({ module: 'cache-storage', output: 'name' });
      expect(moduleOutput(api.parameters.containerName)).toEqual({ module: 'cache-storage', output: 'containerName' });
      expect(moduleOutput(api.parameters.hostStorageAccountName)).toEqual({ module: 'storage', output: 'name' });
      expect(moduleOutput(outputOf(main, 'AZURE_STORAGE_ACCOUNT_NAME'))).toEqual({
        module: 'cache-storage',
        output: 'name',
      });
    });

    it('stores blobs without shared keys or public access, and expires audio cacheTtlDays + 7 days after its last write', () => {
      for (const module of ['storage', 'cache-storage'])
        expect(storageAccount(module), module).toMatchObject({
          allowSharedKeyAccess: false,
          allowBlobPublicAccess: false,
          minimumTlsVersion: 'TLS1_2',
          supportsHttpsTrafficOnly: true,
        });
      const storage = moduleOf(main, 'cache-storage');
      const [rule, ...more] = (
        resourceOf(storage.template, 'Microsoft.Storage/storageAccounts/managementPolicies').properties as {
          policy: { rules: unknown[] };
        }
      ).policy.rules;
      expect(more).toEqual([]);
      // {container}/ + the blob layout's audio-cache/{tenant_id}/{cache_key}.mp3
      expect(rule).toMatchObject({
        definition: {
          filters: {
            blobTypes: ['blockBlob'],
            prefixMatch: ["[format('{0}/audio-cache/', parameters('containerName'))]"],
          },
          actions: {
            baseBlob: { delete: { daysAfterModificationGreaterThan: "[add(parameters('cacheTtlDays'), 7)]" } },
          },
        },
      });
      expect(storage.parameters).toMatchObject({
        containerName: "[parameters('containerName')]",
        cacheTtlDays: "[parameters('cacheTtlDays')]",
      });
      expect(main.parameters.containerName?.defaultValue).toBe('audio-cache');
      expect(main.parameters.cacheTtlDays?.defaultValue).toBe(30);
    });

    it('keeps Key Vault on RBAC with soft delete; its database-url secret logs in as the app’s role, never the admin, over TLS', () => {
      const keyVault = moduleOf(main, 'keyvault');
      expect(resourceOf(keyVault.template, 'Microsoft.KeyVault/vaults').properties).toMatchObject({
        enableRbacAuthorization: true,
        enableSoftDelete: true,
      });
      const databaseUrl = resourcesOf(keyVault.template, 'Microsoft.KeyVault/vaults/secrets').find((r) =>
        r.name.includes("'database-url'"),
      );
      expect((databaseUrl?.properties as { value: string }).value).toBe(
        "[format('postgresql://{0}:{1}@{2}:{3}/{4}?sslmode=require', uriComponent(parameters('postgresAppLogin')), " +
          "uriComponent(parameters('postgresAppPassword')), parameters('postgresHost'), parameters('postgresPort'), parameters('postgresDatabaseName'))]",
      );
      expect(keyVault.parameters).toMatchObject({
        postgresAppLogin: "[parameters('postgresAppLogin')]",
        postgresAppPassword: "[parameters('postgresAppPassword')]",
      });
      expect(JSON.stringify(keyVault.resource.properties?.parameters)).not.toMatch(/postgresAdmin/);
      expect(JSON.stringify(keyVault.template)).not.toMatch(/[Aa]dmin(istrator)?Log/);
      expect(main.parameters.postgresAppLogin?.defaultValue).toBe('khipu_audition_cache');
      expect(main.parameters.postgresAppLogin?.defaultValue).not.toBe(main.parameters.postgresAdminLogin?.defaultValue);
      expect(main.parameters.postgresAppPassword).toMatchObject({ type: 'securestring', minLength: 16 });
    });

    it('keeps PostgreSQL 16 on TLS; allows Azure at large (0.0.0.0) only without privateNetworking; the deployer when given', () => {
      const postgres = moduleOf(main, 'postgres');
      const server = resourceOf(postgres.template, 'Microsoft.DBforPostgreSQL/flexibleServers');
      expect(server.properties).toMatchObject({ version: '16' });
      expect(JSON.stringify(postgres.template)).not.toMatch(/require_secure_transport/);
      const rules = resourcesOf(postgres.template, 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules');
      expect(rules.map((r) => [r.properties, r.condition ?? null])).toEqual([
        [{ startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }, "[not(parameters('privateNetworking'))]"],
        [
          { startIpAddress: "[parameters('deployerIpAddress')]", endIpAddress: "[parameters('deployerIpAddress')]" },
          "[not(empty(parameters('deployerIpAddress')))]",
        ],
      ]);
      expect(main.parameters.postgresDatabaseName?.defaultValue).toBe('khipu_cloud');
    });
  });

  describe('the network (privateNetworking, the default)', () => {
    /** Rules of any firewall that admit 0.0.0.0 (Azure at large) and exist in the default deployment. */
    const openToAzureByDefault = (template: ArmTemplate) =>
      allResources(template)
        .filter(({ resource }) => JSON.stringify(resource.properties ?? {}).includes('0.0.0.0'))
        .filter(
          ({ resource, module }) =>
            resource.type !== 'Microsoft.Resources/deployments' &&
            valueByDefault(template, module, resource.condition ?? true) !== false,
        )
        .map(({ resource, module }) => `${module}: ${resource.type}`);

    it('has no 0.0.0.0 firewall rule in the default deployment, and would name one that is', () => {
      expect(main.parameters.privateNetworking?.defaultValue).toBe(true);
      expect(openToAzureByDefault(main)).toEqual([]);
      // Anywhere in any resource (an IP rule of Key Vault or storage too): the one rule's start and end only.
      const everyResource = allResources(main)
        .filter(({ resource }) => resource.type !== 'Microsoft.Resources/deployments')
        .map(({ resource }) => JSON.stringify(resource));
      expect(everyResource.join('\n').match(/0\.0\.0\.0/g)).toHaveLength(2);
      // The same check on the template with the rule's condition taken away.
      const unconditional = structuredClone(main);
      const rule = resourcesOf(
        moduleOf(unconditional, 'postgres').template,
        'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules',
      ).find((r) => JSON.stringify(r.properties).includes('0.0.0.0'))!;
      delete rule.condition;
      expect(openToAzureByDefault(unconditional)).toEqual([
        'postgres: Microsoft.DBforPostgreSQL/flexibleServers/firewallRules',
      ]);
    });

    it('gives PostgreSQL, Key Vault and the cache’s account a private endpoint each, resolved by a private DNS zone linked to the network', () => {
      expect(moduleOf(main, 'network').resource.condition).toBe("[parameters('privateNetworking')]");
      const network = moduleOf(main, 'network');
      const variables = network.template.variables as {
        endpoints: { name: string; target: string; groupId: string; zone: string }[];
      };
      expect(variables.endpoints.map((e) => [e.name, e.groupId, e.target])).toEqual([
        ['postgres', 'postgresqlServer', "[parameters('postgresServerId')]"],
        ['vault', 'vault', "[parameters('keyVaultId')]"],
        ['cache-blob', 'blob', "[parameters('cacheStorageAccountId')]"],
      ]);
      expect(moduleOutput(network.parameters.postgresServerId)).toEqual({ module: 'postgres', output: 'id' });
      expect(moduleOutput(network.parameters.keyVaultId)).toEqual({ module: 'keyvault', output: 'id' });
      expect(moduleOutput(network.parameters.cacheStorageAccountId)).toEqual({ module: 'cache-storage', output: 'id' });
      expect(variables.endpoints.map((e) => e.zone)).toEqual([
        "[variables('postgresZone')]",
        "[format('privatelink{0}', replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.'))]",
        "[format('privatelink.blob.{0}', environment().suffixes.storage)]",
      ]);
      // Azure's documented zones: privatelink.postgres.database.azure.com in the public cloud.
      expect((network.template.variables as Record<string, string>).postgresZone).toBe(
        "[if(equals(environment().name, 'AzureCloud'), 'privatelink.postgres.database.azure.com', " +
          "format('privatelink.postgres{0}', environment().suffixes.sqlServerHostname))]",
      );
      for (const type of [
        'Microsoft.Network/privateEndpoints',
        'Microsoft.Network/privateDnsZones',
        'Microsoft.Network/privateDnsZones/virtualNetworkLinks',
        'Microsoft.Network/privateEndpoints/privateDnsZoneGroups',
      ])
        expect(resourceOf(network.template, type).copy, type).toMatchObject({
          count: "[length(variables('endpoints'))]",
        });
      const vnet = resourceOf(network.template, 'Microsoft.Network/virtualNetworks').properties as {
        subnets: { name: string; properties: Record<string, unknown> }[];
      };
      expect(vnet.subnets.map((subnet) => subnet.name)).toEqual(['app', 'private-endpoints']);
      expect(vnet.subnets[0]!.properties.delegations).toEqual([
        { name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } },
      ]);
    });

    it('puts the app in the network, and closes the three to public networks but the deployer’s IP', () => {
      const api = moduleOf(main, 'api');
      expect(
        (resourceOf(api.template, 'Microsoft.Web/sites').properties as Record<string, unknown>).virtualNetworkSubnetId,
      ).toBe("[if(empty(parameters('appSubnetId')), null(), parameters('appSubnetId'))]");
      expect(JSON.stringify(api.resource.properties?.parameters)).toContain('outputs.appSubnetId.value');
      const closedUnlessDeployer =
        "[if(and(parameters('privateNetworking'), empty(parameters('deployerIpAddress'))), 'Disabled', 'Enabled')]";
      const server = resourceOf(moduleOf(main, 'postgres').template, 'Microsoft.DBforPostgreSQL/flexibleServers');
      expect((server.properties as { network: object }).network).toEqual({ publicNetworkAccess: closedUnlessDeployer });
      for (const [module, type] of [
        ['keyvault', 'Microsoft.KeyVault/vaults'],
        ['cache-storage', 'Microsoft.Storage/storageAccounts'],
      ] as const) {
        const properties = resourceOf(moduleOf(main, module).template, type).properties as Record<string, unknown>;
        expect(properties.publicNetworkAccess, module).toBe(closedUnlessDeployer);
        expect(JSON.stringify(properties.networkAcls), module).toMatch(/'defaultAction', 'Deny', 'bypass', 'None'/);
      }
      for (const module of ['postgres', 'keyvault', 'cache-storage']) {
        expect(moduleOf(main, module).parameters, module).toMatchObject({
          privateNetworking: "[parameters('privateNetworking')]",
          deployerIpAddress: "[parameters('deployerIpAddress')]",
        });
      }
    });
  });

  describe('role assignments (module rbac)', () => {
    const BUILT_IN: Record<string, string> = {
      'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
      'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
      '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
      '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
      '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
      'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
      '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
    };
    /** Each assignment as (who, role name, scope: the resource type and its name's parts), loops unrolled. */
    function assignments() {
      const rbac = moduleOf(main, 'rbac').template;
      const variables = rbac.variables as { roles: Record<string, string>; [name: string]: unknown };
      const roleIds = (expression: string): string[] => {
        const looped = /variables\('(\w+)'\)\[copyIndex\(\)\]/.exec(expression);
        if (looped) return (variables[looped[1]!] as string[]).flatMap(roleIds);
        const named = /variables\('roles'\)\.(\w+)/.exec(expression);
        return named ? [variables.roles[named[1]!]!] : [];
      };
      const scopeOf = (scope: string | undefined) => {
        const id = /^\[resourceId\('([\w./]+)', (.*)\)\]$/.exec(scope ?? '');
        if (!id) return scope ?? 'the resource group';
        const parts = id[2]!.split(', ').map((part) => parameterName(`[${part}]`) ?? part.replaceAll("'", ''));
        return `${id[1]} ${parts.join('/')}`;
      };
      return resourcesOf(rbac, 'Microsoft.Authorization/roleAssignments').flatMap((r) => {
        const props = r.properties as { roleDefinitionId: string; principalId: string };
        return roleIds(props.roleDefinitionId).map((id) => ({
          who: parameterName(props.principalId),
          role: BUILT_IN[id] ?? id,
          scope: scopeOf(r.scope),
        }));
      });
    }
    const CACHE_CONTAINER =
      'Microsoft.Storage/storageAccounts/blobServices/containers cacheStorageAccountName/default/cacheContainerName';

    it('gives the app code’s identity Storage Blob Data Contributor on the cache’s container, and nothing else', () => {
      expect(assignments().filter((a) => a.who === 'principalId')).toEqual([
        { who: 'principalId', role: 'Storage Blob Data Contributor', scope: CACHE_CONTAINER },
      ]);
      const rbac = moduleOf(main, 'rbac').parameters;
      expect(moduleOutput(rbac.cacheStorageAccountName)).toEqual({ module: 'cache-storage', output: 'name' });
      expect(moduleOutput(rbac.cacheContainerName)).toEqual({ module: 'cache-storage', output: 'containerName' });
      expect(moduleOutput(rbac.hostStorageAccountName)).toEqual({ module: 'storage', output: 'name' });
    });

    it('gives the platform’s identity what the Functions host needs, each on its one resource: no queue or table role', () => {
      expect(assignments().filter((a) => a.who === 'hostPrincipalId')).toEqual([
        {
          who: 'hostPrincipalId',
          role: 'Storage Blob Data Owner',
          scope: 'Microsoft.Storage/storageAccounts hostStorageAccountName',
        },
        { who: 'hostPrincipalId', role: 'Key Vault Secrets User', scope: 'Microsoft.KeyVault/vaults keyVaultName' },
        {
          who: 'hostPrincipalId',
          role: 'Monitoring Metrics Publisher',
          scope: 'Microsoft.Insights/components applicationInsightsName',
        },
      ]);
      // Owner only for the host, only on its own account; nobody else holds a role there.
      expect(assignments().filter((a) => a.role === 'Storage Blob Data Owner' && a.who !== 'hostPrincipalId')).toEqual(
        [],
      );
      expect(
        assignments().filter((a) => a.scope.includes('hostStorageAccountName') && a.who !== 'hostPrincipalId'),
      ).toEqual([]);
    });

    it('gives the deployer only what azd needs, and assigns nothing at the group or subscription', () => {
      expect(assignments().filter((a) => a.who === 'deployerPrincipalId')).toEqual([
        {
          who: 'deployerPrincipalId',
          role: 'Key Vault Secrets Officer',
          scope: 'Microsoft.KeyVault/vaults keyVaultName',
        },
        { who: 'deployerPrincipalId', role: 'Storage Blob Data Contributor', scope: CACHE_CONTAINER },
      ]);
      expect(assignments().map((a) => a.who)).not.toContain(undefined);
      expect(resourcesOf(main, 'Microsoft.Authorization/roleAssignments')).toEqual([]);
    });
  });

  describe('PostgreSQL and the connection check: through PgBouncer (default) or direct', () => {
    const variables = () =>
      main.variables as {
        postgresSkus: Record<string, { tier: string; maxConnections: number }>;
        [name: string]: unknown;
      };
    const source = () => read('infra/main.bicep');
    /** main.bicep's variable `name`, as a deployment computes it with each set of parameters (the rest at their defaults). */
    const evaluate = (name: string, ...cases: Record<string, unknown>[]) =>
      evaluateVariables(
        cli as { path: string },
        main,
        cases.map((parameters) => ({ source: source(), name, parameters })),
      );
    const checks = (...cases: Record<string, unknown>[]) => evaluate('connectionBudgetCheck', ...cases);
    const postgres = () => moduleOf(main, 'postgres');
    const CONSOLE = 60_000; // a `bicep console` session: about 2 s to start, then fast

    it(
      'defaults to PgBouncer on a General Purpose server (Standard_D2ds_v5); direct defaults to Standard_B2s',
      async () => {
        expect(main.parameters.databaseConnection).toMatchObject({
          type: 'string',
          defaultValue: 'pgbouncer',
          allowedValues: ['pgbouncer', 'direct'],
        });
        expect(main.parameters.postgresSkuName?.defaultValue).toBe('');
        expect(
          await evaluate(
            'postgresSkuChosen',
            {},
            { databaseConnection: 'direct' },
            { postgresSkuName: 'Standard_D4ds_v5' },
          ),
        ).toEqual([{ value: "'Standard_D2ds_v5'" }, { value: "'Standard_B2s'" }, { value: "'Standard_D4ds_v5'" }]);
        expect(variables().postgresSkus.Standard_D2ds_v5?.tier).toBe('GeneralPurpose');
        // The server is created with the chosen SKU and its tier.
        expect(postgres().parameters).toMatchObject({
          skuName: "[variables('postgresSkuChosen')]",
          skuTier: "[variables('postgresSku').tier]",
        });
      },
      CONSOLE,
    );

    it(
      'turns on the built-in PgBouncer in transaction mode, its pool sizes from parameters, only with pgbouncer',
      async () => {
        const template = postgres().template;
        const settings = (template.variables as { pgbouncerSettings: { name: string; value: string }[] })
          .pgbouncerSettings;
        expect(settings).toEqual([
          { name: 'pgbouncer.enabled', value: 'true' },
          { name: 'pgbouncer.pool_mode', value: 'transaction' },
          { name: 'pgbouncer.default_pool_size', value: "[string(parameters('pgbouncerDefaultPoolSize'))]" },
          { name: 'pgbouncer.max_client_conn', value: "[string(parameters('pgbouncerMaxClientConn'))]" },
        ]);
        const configurations = resourceOf(template, 'Microsoft.DBforPostgreSQL/flexibleServers/configurations');
        expect(configurations).toMatchObject({
          condition: "[parameters('pgbouncer')]",
          // In order, one at a time: the other parameters appear only once enabled is true.
          copy: { count: "[length(variables('pgbouncerSettings'))]", mode: 'serial', batchSize: 1 },
          name: "[format('{0}/{1}', parameters('name'), variables('pgbouncerSettings')[copyIndex()].name)]",
          properties: { value: "[variables('pgbouncerSettings')[copyIndex()].value]", source: 'user-override' },
        });
        expect(postgres().parameters).toMatchObject({
          pgbouncer: "[variables('pooled')]",
          pgbouncerDefaultPoolSize: "[parameters('pgbouncerDefaultPoolSize')]",
          pgbouncerMaxClientConn: "[parameters('pgbouncerMaxClientConn')]",
        });
        expect(main.parameters.pgbouncerDefaultPoolSize).toMatchObject({
          defaultValue: 50,
          minValue: 1,
          maxValue: 4950,
        });
        expect(main.parameters.pgbouncerMaxClientConn).toMatchObject({
          defaultValue: 5000,
          minValue: 1,
          maxValue: 50000,
        });
        expect(await evaluate('pooled', {}, { databaseConnection: 'direct' })).toEqual([
          { value: 'true' },
          { value: 'false' },
        ]);
      },
      CONSOLE,
    );

    it(
      'gives the app DATABASE_URL port 6432 (PgBouncer) with pgbouncer and 5432 direct',
      async () => {
        const keyVault = moduleOf(main, 'keyvault');
        const databaseUrl = resourcesOf(keyVault.template, 'Microsoft.KeyVault/vaults/secrets').find((r) =>
          r.name.includes("'database-url'"),
        );
        expect((databaseUrl?.properties as { value: string }).value).toMatch(
          /^\[format\('postgresql:\/\/\{0\}:\{1\}@\{2\}:\{3\}\/\{4\}\?sslmode=require', .*parameters\('postgresHost'\), parameters\('postgresPort'\), parameters\('postgresDatabaseName'\)\)\]$/,
        );
        expect(keyVault.template.parameters.postgresPort).toMatchObject({ type: 'int', allowedValues: [5432, 6432] });
        expect(keyVault.parameters.postgresPort).toBe("[variables('postgresAppPort')]");
        expect(await evaluate('postgresAppPort', {}, { databaseConnection: 'direct' })).toEqual([
          { value: '6432' },
          { value: '5432' },
        ]);
      },
      CONSOLE,
    );

    it('is evaluated at deployment, one expression for both modes, shown in an output when it passes', () => {
      expect(variables().connectionBudgetCheck).toMatch(
        /^\[if\(variables\('pooled'\), if\(equals\(variables\('postgresSku'\)\.tier, 'Burstable'\), fail\(/,
      );
      expect(variables().postgresSku).toMatch(/fail\(/);
      expect(variables().postgresAzureReservedConnections).toBe(15);
      expect(outputOf(main, 'DATABASE_CONNECTION_BUDGET')).toBe("[variables('connectionBudgetCheck')]");
    });

    it(
      'with pgbouncer: holds for the defaults, and counts clients against max_client_conn, the pool against max_connections',
      async () => {
        const [defaults, thousand, poolOfTwo, fullServer] = await checks(
          {},
          // What PgBouncer is for: 1,000 instances (Flex Consumption's highest) on two vCores.
          { maximumInstanceCount: 1000 },
          // DATABASE_POOL_MAX as low as src/config.ts allows.
          { databasePoolMax: 2 },
          { pgbouncerDefaultPoolSize: 794 },
        );
        expect(stringValue(defaults!)).toBe(
          'pgbouncer: 40 instances × 5 = 200 of 5000 client connections; pool 50 + 50 headroom = 100 of 844 server connections (Standard_D2ds_v5)',
        );
        expect(stringValue(thousand!)).toMatch(/= 5000 of 5000 client connections/);
        expect(stringValue(poolOfTwo!)).toMatch(/= 80 of 5000 client/);
        expect(stringValue(fullServer!)).toMatch(/= 844 of 844 server connections/);
      },
      CONSOLE,
    );

    it(
      'with pgbouncer: fails on a Burstable server, where Azure has no PgBouncer',
      async () => {
        const skus = ['Standard_B1ms', 'Standard_B2s', 'Standard_B4ms', 'Standard_E2ds_v5'];
        const results = await checks(...skus.map((postgresSkuName) => ({ postgresSkuName })));
        for (const [i, sku] of skus.slice(0, 3).entries())
          expect(results[i], sku).toEqual({
            failed: expect.stringMatching(
              new RegExp(
                `^databaseConnection pgbouncer needs a General Purpose or Memory Optimized server: ${sku} is Burstable`,
              ),
            ),
          });
        expect(stringValue(results[3]!)).toMatch(/of 1703 server connections \(Standard_E2ds_v5\)$/);
      },
      CONSOLE,
    );

    it(
      'with pgbouncer: fails when instances × DATABASE_POOL_MAX exceed max_client_conn',
      async () => {
        const [over, lowered, raised] = await checks(
          { maximumInstanceCount: 1000, databasePoolMax: 6 },
          { pgbouncerMaxClientConn: 199 },
          { maximumInstanceCount: 1000, databasePoolMax: 6, pgbouncerMaxClientConn: 6000 },
        );
        expect(over).toEqual({
          failed:
            'PgBouncer client connections exceeded: maximumInstanceCount 1000 × databasePoolMax 6 = 6000, but pgbouncerMaxClientConn is 5000. ' +
            'Lower maximumInstanceCount or databasePoolMax, or raise pgbouncerMaxClientConn (at most 50000).',
        });
        expect(lowered).toEqual({ failed: expect.stringMatching(/= 200, but pgbouncerMaxClientConn is 199\./) });
        expect(stringValue(raised!)).toMatch(/6000 of 6000 client/);
      },
      CONSOLE,
    );

    it(
      'with pgbouncer: fails when default_pool_size + headroom exceed what the server admits',
      async () => {
        const [pool, headroom] = await checks({ pgbouncerDefaultPoolSize: 795 }, { postgresConnectionHeadroom: 800 });
        expect(pool).toEqual({
          failed:
            'Connection budget exceeded: pgbouncerDefaultPoolSize 795 + postgresConnectionHeadroom 50 = 845, but Standard_D2ds_v5 admits 844 ' +
            '(max_connections 859 − 15 reserved by Azure). Lower pgbouncerDefaultPoolSize or postgresConnectionHeadroom, or choose a larger postgresSkuName.',
        });
        expect(headroom).toEqual({ failed: expect.stringMatching(/= 850, but Standard_D2ds_v5 admits 844/) });
      },
      CONSOLE,
    );

    it(
      'direct: as before, instances × DATABASE_POOL_MAX + headroom against max_connections, on any tier',
      async () => {
        const direct = { databaseConnection: 'direct' };
        const [defaults, over, atLimit, b1ms, generalPurpose, pgbouncerLimits] = await checks(
          direct,
          { ...direct, maximumInstanceCount: 73 },
          { ...direct, maximumInstanceCount: 72 },
          { ...direct, postgresSkuName: 'Standard_B1ms' },
          { ...direct, postgresSkuName: 'Standard_D2ds_v5' },
          // Only the chosen mode's conditions are evaluated: PgBouncer's limits do not apply.
          { ...direct, pgbouncerMaxClientConn: 1, pgbouncerDefaultPoolSize: 4950 },
        );
        expect(stringValue(defaults!)).toBe(
          'direct: 40 instances × 5 + 50 headroom = 250 of 414 connections (Standard_B2s)',
        );
        expect(over).toEqual({
          failed:
            'Connection budget exceeded: maximumInstanceCount 73 × databasePoolMax 5 + postgresConnectionHeadroom 50 = 415, but Standard_B2s admits 414 ' +
            '(max_connections 429 − 15 reserved by Azure). Lower maximumInstanceCount or databasePoolMax, choose a larger postgresSkuName, or use databaseConnection pgbouncer.',
        });
        expect(stringValue(atLimit!)).toMatch(/= 410 of 414/);
        expect(b1ms).toEqual({ failed: expect.stringMatching(/= 250, but Standard_B1ms admits 35 /) });
        expect(stringValue(generalPurpose!)).toMatch(/= 250 of 844 connections \(Standard_D2ds_v5\)$/);
        expect(stringValue(pgbouncerLimits!)).toMatch(/^direct: /);
      },
      CONSOLE,
    );

    it(
      'would notice a check that lost its Burstable branch (the evaluation runs the text as written)',
      async () => {
        const text = source();
        expect(text).toContain("postgresSku.tier == 'Burstable'");
        const broken = text.replace("postgresSku.tier == 'Burstable'", "postgresSku.tier == 'None'");
        const [result] = await evaluateVariables(cli as { path: string }, main, [
          { source: broken, name: 'connectionBudgetCheck', parameters: { postgresSkuName: 'Standard_B2s' } },
        ]);
        expect(result).toEqual({
          value: expect.stringMatching(/^'pgbouncer: .*\(Standard_B2s\)'$/),
        });
      },
      CONSOLE,
    );

    it('gives the app the DATABASE_POOL_MAX the check counts, with src/config.ts’s bounds', () => {
      expect(moduleOf(main, 'api').parameters.databasePoolMax).toBe("[parameters('databasePoolMax')]");
      expect((moduleOf(main, 'api').template.variables!.appSettings as Record<string, string>).DATABASE_POOL_MAX).toBe(
        "[string(parameters('databasePoolMax'))]",
      );
      // At least 1, no upper bound: the same as src/config.ts.
      expect(main.parameters.databasePoolMax).toMatchObject({ defaultValue: 5, minValue: 1 });
      expect(main.parameters.databasePoolMax).not.toHaveProperty('maxValue');
      const env = { DATABASE_URL: 'postgresql://a@b/c', JWT_SECRET_KEY: 'x', AZURE_STORAGE_ACCOUNT_NAME: 'stcache1' };
      expect(parseConfig({ ...env, DATABASE_POOL_MAX: '1' }).databasePoolMax).toBe(1);
      expect(() => parseConfig({ ...env, DATABASE_POOL_MAX: '0' })).toThrow(ConfigError);
    });

    it('is the table the docs size the server by', () => {
      const readme = allDocs();
      const skus = Object.entries(variables().postgresSkus);
      expect(skus.length).toBeGreaterThanOrEqual(8);
      for (const [name, sku] of skus) {
        expect(
          name.startsWith(
            { Burstable: 'Standard_B', GeneralPurpose: 'Standard_D', MemoryOptimized: 'Standard_E' }[sku.tier]!,
          ),
          name,
        ).toBe(true);
        expect(readme, name).toMatch(
          new RegExp(`\\| \`${name}\` \\| ${sku.tier} \\| ${sku.maxConnections.toLocaleString('en-US')} \\|`),
        );
      }
    });
  });

  describe('monitoring (modules alerts and workbook)', () => {
    it('provisions one alert per query file, each with its file’s query as compiled, measuring a column that query outputs', () => {
      const alerts = moduleOf(main, 'alerts').template;
      const variables = alerts.variables as Record<string, unknown> & {
        alerts: { name: string; query: string; column: string }[];
      };
      const compiled = variables.alerts.map((a) => ({
        name: a.name,
        column: a.column,
        query: variables[/^\[variables\('(.+)'\)\]$/.exec(a.query)![1]!] as string,
      }));
      const files = alertQueries();
      expect(compiled.map((a) => `infra/monitoring/alerts/${a.name}.kql`).sort()).toEqual(
        files.map((f) => f.source).sort(),
      );
      for (const alert of compiled) {
        expect(alert.query, alert.name).toBe(files.find((f) => f.source.endsWith(`/${alert.name}.kql`))!.query);
        expect(alert.query, alert.name).toMatch(new RegExp(`\\b${alert.column}\\s*=`));
      }
      const rule = resourceOf(alerts, 'Microsoft.Insights/scheduledQueryRules');
      expect(rule.copy).toMatchObject({ count: "[length(variables('alerts'))]" });
    });

    it('provisions the workbook from valid JSON whose queries are the ones the KQL check reads', () => {
      const workbook = moduleOf(main, 'workbook').template;
      const variables = workbook.variables as Record<string, string>;
      expect(variables.serialized).toMatch(/variables\('\$fxv#0'\)/);
      const text = variables['$fxv#0']!;
      expect(text).toBe(read('infra/monitoring/workbook.json'));
      const parsed = JSON.parse(text) as { items: { type: number; name: string; content: { query?: string } }[] };
      const queries = parsed.items.filter((i) => i.type === 3).map((i) => `workbook: ${i.name}`);
      expect(queries).toEqual(workbookQueries().map((q) => q.source));
      expect(queries.length).toBeGreaterThan(3);
      expect(resourceOf(workbook, 'Microsoft.Insights/workbooks').properties).toMatchObject({
        serializedData: "[variables('serialized')]",
      });
    });
  });

  describe('outputs azd reads', () => {
    it('names the resource group, the app and its endpoint, the vault and the database host, and no secret', () => {
      for (const name of [
        'AZURE_LOCATION',
        'AZURE_RESOURCE_GROUP',
        'AZURE_FUNCTION_APP_NAME',
        'SERVICE_API_ENDPOINTS',
        'AZURE_KEY_VAULT_NAME',
        'POSTGRES_HOST',
      ]) {
        expect(main.outputs, name).toHaveProperty(name);
      }
      expect(resourceOf(main, 'Microsoft.Resources/resourceGroups').name).toBe(
        "[format('rg-{0}', parameters('environmentName'))]",
      );
      expect(JSON.stringify(main.outputs)).not.toMatch(
        /jwtSecretKey|postgresAdminPassword|azureSpeechKey|DATABASE_URL/,
      );
    });

    it('gives the migration hook in azure.yaml every variable it reads, but those the deployer sets', () => {
      const { predeploy } = (
        parse(read('azure.yaml')) as { hooks: Record<string, { posix: { run: string }; windows: { run: string } }> }
      ).hooks;
      const hook = `${predeploy!.posix.run}\n${predeploy!.windows.run}`;
      const read_ = new Set(
        [...hook.matchAll(/(?:\$env:|\be\.|\$)(POSTGRES_[A-Z_]+|DEPLOYER_[A-Z_]+)/g)].map((m) => m[1]!),
      );
      expect([...read_].sort()).toEqual([
        'DEPLOYER_IP_ADDRESS',
        'POSTGRES_ADMIN_LOGIN',
        'POSTGRES_ADMIN_PASSWORD',
        'POSTGRES_APP_LOGIN',
        'POSTGRES_APP_PASSWORD',
        'POSTGRES_DATABASE',
        'POSTGRES_HOST',
      ]);
      const fromDeployer = ['DEPLOYER_IP_ADDRESS', 'POSTGRES_ADMIN_PASSWORD', 'POSTGRES_APP_PASSWORD'];
      for (const name of [...read_].filter((n) => !fromDeployer.includes(n)))
        expect(main.outputs, name).toHaveProperty(name);
    });
  });
});
