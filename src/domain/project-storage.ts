/**
 * A project's own Azure Storage account, as Khipu's project settings page writes it
 * (`projects.settings.creds.storage.azure` = `{ accountName, accessKey, containerName, endpoint? }`). Like the Khipu
 * Cloud API, it is used only when both `accountName` and `accessKey` are set; the container defaults to `"audios"`.
 * Unlike it, `endpoint` is honoured, within a ProjectStoragePolicy (sovereign clouds; Azurite in development).
 */
export interface ProjectStorage {
  accountName: string;
  /** The account's shared key: a secret (never logged, never in an error, never in a store id). */
  accessKey: string;
  containerName: string;
  /** The blob service's URL, no trailing slash: `https://{accountName}.blob.core.windows.net` unless `endpoint` says. */
  serviceUrl: string;
  /**
   * Where its blobs live, with no secret in it: `{serviceUrl}/{containerName}`.
   * Recorded with each entry stored there.
   */
  storeId: string;
}

/**
 * The storage settings are there but unusable (a malformed name or endpoint):
 * the project's auditions are not cached.
 */
export interface InvalidProjectStorage {
  invalid: string;
}

const DEFAULT_PROJECT_CONTAINER = 'audios';

/**
 * Where projects' storage accounts may be (PROJECT_STORAGE_*). A project's settings are a tenant's input: they never
 * choose where a request of ours goes beyond this list.
 */
export interface ProjectStoragePolicy {
  /** `https://{accountName}.blob.{suffix}` with one of these (lower case), and nothing else. */
  endpointSuffixes: readonly string[];
  /** Development only (Azurite, a port, http, loopback): any http(s) URL. Never set in a deployment. */
  allowAnyEndpoint: boolean;
  /** The operator's own account, which no project may name (its blobs, and before infra split it, the app's code). */
  operatorAccountName?: string;
}

/** What a deployment allows when nothing else is said: Azure's public, China and US Government clouds. */
export const DEFAULT_PROJECT_STORAGE_POLICY: ProjectStoragePolicy = {
  endpointSuffixes: ['core.windows.net', 'core.chinacloudapi.cn', 'core.usgovcloudapi.net'],
  allowAnyEndpoint: false,
};

/** Development's (PROJECT_STORAGE_ALLOW_ANY_ENDPOINT=true): Azurite, http, a port, loopback. */
export const DEVELOPMENT_PROJECT_STORAGE_POLICY: ProjectStoragePolicy = {
  ...DEFAULT_PROJECT_STORAGE_POLICY,
  allowAnyEndpoint: true,
};

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const HOST_SUFFIX = /^(?:[a-z0-9-]+\.)+[a-z]{2,}$/i;

/**
 * The project's storage account from its settings (a json or jsonb column; any shape): undefined when the project has
 * none (then the operator's account holds its auditions), `{ invalid }` when it has one that cannot be used.
 * `endpoint` may be the blob service's URL (`https://acct.blob.core.chinacloudapi.cn`) or an endpoint suffix
 * (`core.chinacloudapi.cn`); under `policy` only Azure's own blob endpoints pass (any URL when it allows any: Azurite's
 * `http://127.0.0.1:10000/acct`).
 */
export function projectStorageOf(
  settings: unknown,
  policy: ProjectStoragePolicy = DEFAULT_PROJECT_STORAGE_POLICY,
): ProjectStorage | InvalidProjectStorage | undefined {
  const azure = field(field(field(settings, 'creds'), 'storage'), 'azure');
  const accountName = text(field(azure, 'accountName'));
  const accessKey = text(field(azure, 'accessKey'));
  if (!accountName || !accessKey) return undefined;
  const containerName = text(field(azure, 'containerName')) ?? DEFAULT_PROJECT_CONTAINER;
  if (!ACCOUNT_NAME.test(accountName)) return { invalid: 'accountName is not a storage account name' };
  if (!CONTAINER_NAME.test(containerName)) return { invalid: 'containerName is not a container name' };
  if (accountName === policy.operatorAccountName) return { invalid: "accountName is the service's own account" };
  const endpoint = text(field(azure, 'endpoint'));
  const serviceUrl = policy.allowAnyEndpoint
    ? anyServiceUrl(accountName, endpoint)
    : azureServiceUrl(accountName, endpoint, policy.endpointSuffixes);
  if (!serviceUrl) {
    return {
      invalid: policy.allowAnyEndpoint
        ? 'endpoint is neither a URL nor an endpoint suffix'
        : `endpoint is not an Azure blob endpoint (https://{accountName}.blob.{suffix}, suffix one of ${policy.endpointSuffixes.join(', ')})`,
    };
  }
  return { accountName, accessKey, containerName, serviceUrl, storeId: `${serviceUrl}/${containerName}` };
}

/** `https://{accountName}.blob.{suffix}` when the endpoint names one of the allowed suffixes, and nothing more. */
function azureServiceUrl(accountName: string, endpoint: string | undefined, suffixes: readonly string[]) {
  const allowed = (suffix: string) => suffixes.includes(suffix.toLowerCase());
  if (!endpoint) return allowed('core.windows.net') ? `https://${accountName}.blob.core.windows.net` : undefined;
  if (HOST_SUFFIX.test(endpoint))
    return allowed(endpoint) ? `https://${accountName}.blob.${endpoint.toLowerCase()}` : undefined;
  const url = parseUrl(endpoint);
  // Exactly the account's own host: no port, path, query, user or other account.
  if (!url || url.protocol !== 'https:' || url.port || url.username || url.password || url.search || url.hash) {
    return undefined;
  }
  if (url.pathname.replace(/\/+$/, '') !== '') return undefined;
  const prefix = `${accountName}.blob.`;
  if (!url.hostname.startsWith(prefix) || !allowed(url.hostname.slice(prefix.length))) return undefined;
  return `https://${url.hostname}`;
}

/** Development: any http(s) URL (Azurite's `http://127.0.0.1:10000/acct`), or a suffix. */
function anyServiceUrl(accountName: string, endpoint: string | undefined): string | undefined {
  if (!endpoint) return `https://${accountName}.blob.core.windows.net`;
  if (HOST_SUFFIX.test(endpoint)) return `https://${accountName}.blob.${endpoint.toLowerCase()}`;
  const url = parseUrl(endpoint);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
    return undefined;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
