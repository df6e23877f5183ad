import { RestError } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { AddressNotAllowedError, ResponseTooLargeError } from '../../src/adapters/guarded-agents.ts';
import { storeFailureOf } from '../../src/cache/project-stores.ts';
import { DeadlineExceededError } from '../../src/deadline.ts';
import { BlobTooLargeError } from '../../src/ports/blob-store.ts';

const rest = (statusCode: number, code: string) => new RestError(`server says ${code}`, { statusCode, code });
const network = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.4:5432`), { code });

describe('storeFailureOf: what a tenant may read of why its storage account fails', () => {
  it.each([
    [rest(403, 'AuthenticationFailed'), 'auth'],
    [rest(401, 'InvalidAuthenticationInfo'), 'auth'],
    [rest(404, 'ContainerNotFound'), 'not-found'],
    [rest(503, 'ServerBusy'), 'throttled'],
    [rest(429, 'TooManyRequests'), 'throttled'],
    [rest(500, 'InternalError'), 'unreachable'],
    [new DeadlineExceededError('Blob Storage', 'answer', 3000), 'timeout'],
    [network('ETIMEDOUT'), 'timeout'],
    [new BlobTooLargeError('p', 2, 1), 'invalid'],
    [new AddressNotAllowedError(), 'invalid'],
    [new ResponseTooLargeError(1), 'invalid'],
  ])('%s → %s', (error, failure) => {
    expect(storeFailureOf(error)).toBe(failure);
  });

  // What made the stats a port scanner: each told what answers at an address. All are one word now.
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'HPE_INVALID_CONSTANT', 'PARSE_ERROR', 'EPROTO'])(
    'says only "unreachable" for %s',
    (code) => {
      expect(storeFailureOf(network(code))).toBe('unreachable');
      expect(storeFailureOf(new RestError('parse', { code }))).toBe('unreachable');
    },
  );
});
