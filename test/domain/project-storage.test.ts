import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROJECT_STORAGE_POLICY,
  DEVELOPMENT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStoragePolicy,
} from '../../src/domain/project-storage.ts';

const settingsWith = (azure: Record<string, unknown>) => ({
  creds: { storage: { azure: { accountName: 'acmebooks', accessKey: 'a2V5', ...azure } } },
});

function serviceUrlOf(endpoint: string | undefined, policy: ProjectStoragePolicy = DEFAULT_PROJECT_STORAGE_POLICY) {
  const storage = projectStorageOf(settingsWith(endpoint === undefined ? {} : { endpoint }), policy);
  return storage && 'serviceUrl' in storage ? storage.serviceUrl : storage;
}

describe('projectStorageOf under the deployed policy (a project endpoint is a tenant input)', () => {
  it.each([
    [undefined, 'https://acmebooks.blob.core.windows.net'],
    ['core.windows.net', 'https://acmebooks.blob.core.windows.net'],
    ['core.chinacloudapi.cn', 'https://acmebooks.blob.core.chinacloudapi.cn'],
    ['CORE.usgovcloudapi.net', 'https://acmebooks.blob.core.usgovcloudapi.net'],
    ['https://acmebooks.blob.core.windows.net', 'https://acmebooks.blob.core.windows.net'],
    ['https://acmebooks.blob.core.windows.net/', 'https://acmebooks.blob.core.windows.net'],
    ['https://ACMEBOOKS.blob.core.chinacloudapi.cn', 'https://acmebooks.blob.core.chinacloudapi.cn'],
  ])('takes the Azure blob endpoint %s', (endpoint, url) => {
    expect(serviceUrlOf(endpoint)).toBe(url);
  });

  it.each([
    ['http://acmebooks.blob.core.windows.net'], // plain http
    ['https://acmebooks.blob.core.windows.net:8443'], // a port
    ['https://acmebooks.blob.core.windows.net/acmebooks'], // a path
    ['https://other.blob.core.windows.net'], // another account than its own
    ['https://acmebooks.blob.core.windows.net.evil.example'], // a suffix of the attacker's
    ['evil.example'], // a suffix not on the list: acmebooks.blob.evil.example
    ['blob.core.windows.net.evil.example'],
    ['http://169.254.169.254/metadata'], // the instance metadata service
    ['http://127.0.0.1:5432'], // the database
    ['http://[::1]:7071'], // the local host
    ['https://10.0.0.4'], // a private address
    ['https://[fd00::1]'], // unique-local
    ['http://127.0.0.1:10000/acmebooks'], // Azurite
    ['https://user:pw@acmebooks.blob.core.windows.net'],
    ['https://acmebooks.blob.core.windows.net?x=1'],
    ['ftp://acmebooks.blob.core.windows.net'],
    ['not a url'],
  ])('refuses %s as invalid, naming what is allowed', (endpoint) => {
    const storage = projectStorageOf(settingsWith({ endpoint }), DEFAULT_PROJECT_STORAGE_POLICY);
    expect(storage).toEqual({ invalid: expect.stringContaining('core.windows.net, core.chinacloudapi.cn') });
  });

  it('takes only the suffixes the operator lists (PROJECT_STORAGE_ENDPOINT_SUFFIXES)', () => {
    const policy = { endpointSuffixes: ['core.chinacloudapi.cn'], allowAnyEndpoint: false };
    expect(serviceUrlOf('core.chinacloudapi.cn', policy)).toBe('https://acmebooks.blob.core.chinacloudapi.cn');
    expect(serviceUrlOf(undefined, policy)).toMatchObject({ invalid: expect.any(String) });
    expect(serviceUrlOf('https://acmebooks.blob.core.windows.net', policy)).toMatchObject({
      invalid: expect.any(String),
    });
  });

  it("refuses the operator's own account, under any policy", () => {
    for (const policy of [DEFAULT_PROJECT_STORAGE_POLICY, DEVELOPMENT_PROJECT_STORAGE_POLICY]) {
      const storage = projectStorageOf(settingsWith({}), { ...policy, operatorAccountName: 'acmebooks' });
      expect(storage).toEqual({ invalid: "accountName is the service's own account" });
    }
  });
});

describe('projectStorageOf under the development policy (PROJECT_STORAGE_ALLOW_ANY_ENDPOINT=true)', () => {
  it('takes Azurite, http and ports, as a laptop needs', () => {
    const policy = DEVELOPMENT_PROJECT_STORAGE_POLICY;
    expect(serviceUrlOf('http://127.0.0.1:10000/acmebooks', policy)).toBe('http://127.0.0.1:10000/acmebooks');
    expect(serviceUrlOf('evil.example', policy)).toBe('https://acmebooks.blob.evil.example');
    expect(serviceUrlOf('ftp://x', policy)).toMatchObject({ invalid: expect.any(String) });
  });
});
