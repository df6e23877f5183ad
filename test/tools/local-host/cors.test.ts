import { describe, expect, it } from 'vitest';
import { corsHeadersFor, corsOriginsFor, parseCorsPolicy } from '../../../tools/local-host/cors.ts';
import { createLocalHost } from '../../../tools/local-host/http-host.ts';

const WEB_ORIGIN = 'http://localhost:3000';

describe('the local host’s CORS policy (Host.CORS, Host.CORSCredentials)', () => {
  it('answers a listed origin with itself, and nothing for any other, whatever the credentials setting', () => {
    for (const credentials of [false, true]) {
      const policy = parseCorsPolicy([WEB_ORIGIN, 'https://studio.example'], credentials);
      expect(corsHeadersFor(policy, WEB_ORIGIN)).toEqual({
        'Access-Control-Allow-Origin': WEB_ORIGIN,
        ...(credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
        Vary: 'Origin',
      });
      for (const stranger of ['http://evil.example', 'null', 'http://localhost:3000.evil.example', `${WEB_ORIGIN}, x`])
        expect(corsHeadersFor(policy, stranger), stranger).toBeUndefined();
      expect(corsHeadersFor(policy, undefined)).toBeUndefined();
    }
  });

  it('reads listed origins as ASP.NET Core does: lower-cased, then matched exactly', () => {
    const policy = parseCorsPolicy(['HTTPS://Studio.Example'], false);
    expect(corsHeadersFor(policy, 'https://studio.example')?.['Access-Control-Allow-Origin']).toBe(
      'https://studio.example',
    );
  });

  it('answers `*` alone with `*`, never with the origin and never with credentials; refuses it with credentials', () => {
    expect(corsHeadersFor(parseCorsPolicy(['*'], false), 'http://evil.example')).toEqual({
      'Access-Control-Allow-Origin': '*',
    });
    expect(() => parseCorsPolicy(['*'], true)).toThrow(
      /^Host\.CORS "\*" with Host\.CORSCredentials true: the CORS protocol does not allow any origin with credentials/,
    );
    expect(() => parseCorsPolicy(['*', WEB_ORIGIN], false)).toThrow(/"\*" \(any origin\) must stand alone/);
    // A host built in code cannot be given that policy either.
    expect(() =>
      createLocalHost({ functions: [], routePrefix: 'api', corsOrigins: ['*'], corsCredentials: true, log: () => {} }),
    ).toThrow(/does not allow any origin with credentials/);
  });

  it('refuses an entry no browser could send as its Origin, naming where it came from', () => {
    expect(() => parseCorsPolicy(['http://localhost:3000/'], false, 'LOCAL_HOST_CORS')).toThrow(
      'LOCAL_HOST_CORS: "http://localhost:3000/" is not a browser origin: http(s)://host[:port], nothing after it (did you mean "http://localhost:3000"?)',
    );
    for (const entry of ['null', 'localhost:3000', 'file:///x', 'http://localhost:80'])
      expect(() => parseCorsPolicy([entry], false), entry).toThrow(/is not a browser origin/);
  });

  it('takes Host.CORS, else LOCAL_HOST_CORS, else khipu-web’s dev origin alone', () => {
    const none = { values: {}, corsOrigins: [], corsCredentials: false };
    expect(corsOriginsFor(none, {})).toEqual({ origins: [WEB_ORIGIN], source: 'default' });
    expect(corsOriginsFor(none, { LOCAL_HOST_CORS: ' http://a.example , http://b.example' })).toEqual({
      origins: ['http://a.example', 'http://b.example'],
      source: 'LOCAL_HOST_CORS',
    });
    expect(
      corsOriginsFor({ ...none, corsOrigins: ['http://c.example'] }, { LOCAL_HOST_CORS: 'http://a.example' }),
    ).toEqual({ origins: ['http://c.example'], source: 'Host.CORS' });
  });
});
