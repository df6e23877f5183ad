import type { WholeAudio } from '../domain/audition-audio.ts';
import { AppError } from '../errors.ts';
import type { PrewarmResult } from './audition-deps.ts';

/** A prewarm's result once the audio is stored; `unavailable` when it could not be. */
export async function prewarmed(
  cacheKey: string,
  whole: Promise<WholeAudio>,
  status: PrewarmResult['status'],
): Promise<PrewarmResult> {
  if ((await whole).status === 'BYPASS') {
    throw new AppError('unavailable', 'The audio was synthesized but could not be stored; try again shortly', {
      retryAfterSeconds: 5,
    });
  }
  return { cacheKey, status };
}
