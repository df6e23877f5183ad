import { describe, expect, it } from 'vitest';
import {
  exposureWarning,
  isLoopback,
  localUrlHost,
  readListenAddress,
} from '../../../tools/local-host/listen-address.ts';

describe('the local host’s listen address (--host, LOCAL_HOST_ADDRESS)', () => {
  it('is 127.0.0.1 unless set; takes IPv4 and IPv6 addresses, brackets allowed', () => {
    expect(readListenAddress(undefined)).toBe('127.0.0.1');
    expect(readListenAddress('  ')).toBe('127.0.0.1');
    expect(readListenAddress('0.0.0.0')).toBe('0.0.0.0');
    expect(readListenAddress('[::1]')).toBe('::1');
    expect(readListenAddress('fd00::2')).toBe('fd00::2');
  });

  it('refuses a host name or anything else, naming the flag or the setting', () => {
    expect(() => readListenAddress('localhost', '--host')).toThrow(/^--host must be an IP address/);
    expect(() => readListenAddress('0.0.0.0:7071')).toThrow(/^LOCAL_HOST_ADDRESS must be an IP address/);
  });

  it('warns for every address but loopback, naming what anyone on the network can then reach', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      expect(exposureWarning({ address, port: 7071, source: '--host' }), address).toBeUndefined();
    for (const address of ['0.0.0.0', '::', '192.0.2.2', 'fd00::2']) expect(isLoopback(address), address).toBe(false);
    const warning = exposureWarning({
      address: '192.0.2.2',
      port: 7071,
      source: 'LOCAL_HOST_ADDRESS',
      upstream: new URL('http://localhost:8000/'),
    });
    expect(warning?.join('\n')).toMatch(
      /^WARNING: LOCAL_HOST_ADDRESS 192\.0\.2\.2: listening on a network interface, not loopback\. .*port 7071[\s\S]*\/admin\/functions\/\* \(no authentication[\s\S]*reach http:\/\/localhost:8000 through the upstream proxy/,
    );
    expect(exposureWarning({ address: '0.0.0.0', port: 7071, source: '--host' })?.join('\n')).not.toMatch(
      /upstream proxy/,
    );
  });

  it('prints URLs a browser on this machine can open: the address itself, or loopback for a wildcard', () => {
    expect(localUrlHost('127.0.0.1')).toBe('127.0.0.1');
    expect(localUrlHost('0.0.0.0')).toBe('127.0.0.1');
    expect(localUrlHost('::')).toBe('[::1]');
    expect(localUrlHost('fd00::2')).toBe('[fd00::2]');
  });
});
