import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { GUIDE_BODY } from '../support/auditions.ts';
import { auditionKeyOf } from '../support/cache-keys.ts';

const TENANT = '5b0f4c1e-8d6a-4a55-9b39-7f1d0f6b2a10';
/** The key of a request body's audition, as the handler parses it. */
const keyOfBody = (body: Record<string, unknown>, tenantId = TENANT, provider = 'azure') =>
  auditionKeyOf(tenantId, parseAuditionBody(body), provider);

describe('computeCacheKey', () => {
  it('is the sha256 of the documented v1 tuple (changing it orphans every stored entry)', () => {
    expect(keyOfBody(GUIDE_BODY)).toBe(
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
    expect(keyOfBody(web)).toBe(keyOfBody(GUIDE_BODY));
  });

  it('differs for another tenant, provider, voice, text, style, degree, rate or pitch', () => {
    const base = keyOfBody(GUIDE_BODY);
    const variants = [
      keyOfBody(GUIDE_BODY, 'c3a1d8f0-0000-4000-8000-000000000000'),
      keyOfBody(GUIDE_BODY, TENANT, 'local'),
      keyOfBody({ ...GUIDE_BODY, voice: 'es-AR-TomasNeural' }),
      keyOfBody({ ...GUIDE_BODY, text: 'Hola, este es un test del caché' }),
      keyOfBody({ ...GUIDE_BODY, style: 'sad' }),
      keyOfBody({ ...GUIDE_BODY, styledegree: 1.5 }),
      keyOfBody({ ...GUIDE_BODY, rate_pct: 10 }),
      keyOfBody({ ...GUIDE_BODY, pitch_pct: -5 }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('gives decimal spellings of one rate, pitch or styledegree the key of the rounded value (one entry, one synthesis)', () => {
    const rounded = keyOfBody({ ...GUIDE_BODY, styledegree: 0.8, rate_pct: 10, pitch_pct: -5 });
    const spellings = [
      { styledegree: 0.800001, rate_pct: 10.000001, pitch_pct: -5 },
      { styledegree: 0.8, rate_pct: 9.999999, pitch_pct: -5.000001 },
      { styledegree: 0.7999, rate_pct: 10.4, pitch_pct: -4.6 },
    ];
    for (const spelling of spellings) expect(keyOfBody({ ...GUIDE_BODY, ...spelling })).toBe(rounded);
    // Whole values keep the keys they always had: nothing stored before is orphaned.
    expect(keyOfBody({ ...GUIDE_BODY, rate_pct: -0.2 })).toBe(keyOfBody(GUIDE_BODY));
  });

  it('ignores the tenant id’s letter case', () => {
    expect(keyOfBody(GUIDE_BODY, TENANT.toUpperCase())).toBe(keyOfBody(GUIDE_BODY));
  });
});
