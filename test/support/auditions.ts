import type { Audition } from '../../src/domain/audition.ts';

/** A parsed audition as the service sees it: es-AR-ElenaNeural, no style, default rate and pitch. */
export const testAudition = (text = 'Hola, soy Elena.'): Audition => ({
  voice: 'es-AR-ElenaNeural',
  locale: 'es-AR',
  text,
  style: null,
  styleDegree: 1,
  ratePct: 0,
  pitchPct: 0,
});
