import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { computeCacheKey } from '../../src/domain/cache-key.ts';

const TENANT = '5b0f4c1e-8d6a-4a55-9b39-7f1d0f6b2a10';
const keyOf = (body: Record<string, unknown>, tenantId = TENANT, provider = 'azure') =>
  computeCacheKey({ tenantId, provider, outputFormat: 'audio-24khz-48kbitrate-mono-mp3', audition: parseAuditionBody(body) });
const GUIDE = { voice: 'es-AR-ElenaNeural', text: 'Hola, este es un test del cache', style: 'cheerful', rate_pct: 0, pitch_pct: 0 };

describe('computeCacheKey', () => {
  it('is the sha256 of the documented v1 tuple (changing it orphans every stored entry)', () => {
    expect(keyOf(GUIDE)).toBe(
      createHash('sha256')
        .update(
          JSON.stringify([
            'v1',
            TENANT,
            'azure',
            'es-AR-ElenaNeural',
            'audio-24khz-48kbitrate-mono-mp3',
            'Hola, este es un test del cache',
            'cheerful',
            1,
            0,
            0,
          ]),
        )
        .digest('hex'),
    );
  });

  it('gives both body shapes of one audition the same key', () => {
    const web = {
      voice: { id: 'es-AR-ElenaNeural', engine: 'azure', locale: 'es-AR', styles: ['cheerful'] },
      text: ' Hola,  este es un test del cache\n',
      style: 'cheerful',
      styledegree: null,
      rate_pct: null,
      pitch_pct: null,
      page: 'casting',
    };
    expect(keyOf(web)).toBe(keyOf(GUIDE));
  });

  it('differs for another tenant, provider, voice, text, style, degree, rate or pitch', () => {
    const base = keyOf(GUIDE);
    const variants = [
      keyOf(GUIDE, 'c3a1d8f0-0000-4000-8000-000000000000'),
      keyOf(GUIDE, TENANT, 'local'),
      keyOf({ ...GUIDE, voice: 'es-AR-TomasNeural' }),
      keyOf({ ...GUIDE, text: 'Hola, este es un test del caché' }),
      keyOf({ ...GUIDE, style: 'sad' }),
      keyOf({ ...GUIDE, styledegree: 1.5 }),
      keyOf({ ...GUIDE, rate_pct: 10 }),
      keyOf({ ...GUIDE, pitch_pct: -5 }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('ignores the tenant id’s letter case', () => {
    expect(keyOf(GUIDE, TENANT.toUpperCase())).toBe(keyOf(GUIDE));
  });
});
