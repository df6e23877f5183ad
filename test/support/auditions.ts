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

/** The request body of the README's guide (its first audition): the line most tests ask for. */
export const GUIDE_BODY = {
  voice: 'es-AR-ElenaNeural',
  text: 'Hola, este es un test del cache',
  style: 'cheerful',
  rate_pct: 0,
  pitch_pct: 0,
};
