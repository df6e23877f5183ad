/**
 * A project's own Azure Storage account, as Khipu's project settings page writes it
 * (`projects.settings.creds.storage.azure` = `{ accountName, accessKey, containerName, endpoint? }`). Like the Khipu
 * Cloud API, it is used only when both `accountName` and `accessKey` are set; the container defaults to `"audios"`.
 * Unlike it, `endpoint` is honoured (sovereign clouds, Azurite).
 */
export interface ProjectStorage {
  accountName: string;
  /** The account's shared key: a secret (never logged, never in an error, never in a store id). */
  accessKey: string;
  containerName: string;
  /** The blob service's URL, no trailing slash: `https://{accountName}.blob.core.windows.net` unless `endpoint` says. */
  serviceUrl: string;
  /** Where its blobs live, with no secret in it: `{serviceUrl}/{containerName}`. Recorded with each entry stored there. */
  storeId: string;
}

/** The storage settings are there but unusable (a malformed name or endpoint): the project's auditions are not cached. */
export interface InvalidProjectStorage {
  invalid: string;
}

export const DEFAULT_PROJECT_CONTAINER = 'audios';

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
const HOST_SUFFIX = /^(?:[a-z0-9-]+\.)+[a-z]{2,}$/i;

/**
 * The project's storage account from its settings (a json or jsonb column; any shape): undefined when the project has
 * none (then the operator's account holds its auditions), `{ invalid }` when it has one that cannot be used.
 * `endpoint` may be the blob service's URL (`https://acct.blob.core.chinacloudapi.cn`, `http://127.0.0.1:10000/acct`)
 * or an endpoint suffix (`core.chinacloudapi.cn`).
 */
export function projectStorageOf(settings: unknown): ProjectStorage | InvalidProjectStorage | undefined {
  const azure = field(field(field(settings, 'creds'), 'storage'), 'azure');
  const accountName = text(field(azure, 'accountName'));
  const accessKey = text(field(azure, 'accessKey'));
  if (!accountName || !accessKey) return undefined;
  const containerName = text(field(azure, 'containerName')) ?? DEFAULT_PROJECT_CONTAINER;
  if (!ACCOUNT_NAME.test(accountName)) return { invalid: 'accountName is not a storage account name' };
  if (!CONTAINER_NAME.test(containerName)) return { invalid: 'containerName is not a container name' };
  const serviceUrl = serviceUrlOf(accountName, text(field(azure, 'endpoint')));
  if (!serviceUrl) return { invalid: 'endpoint is neither a URL nor an endpoint suffix' };
  return { accountName, accessKey, containerName, serviceUrl, storeId: `${serviceUrl}/${containerName}` };
}

function serviceUrlOf(accountName: string, endpoint: string | undefined): string | undefined {
  if (!endpoint) return `https://${accountName}.blob.core.windows.net`;
  if (HOST_SUFFIX.test(endpoint)) return `https://${accountName}.blob.${endpoint.toLowerCase()}`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username) {
    return undefined;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
