import { createHash } from 'node:crypto';
import { computeCacheKey } from '../../src/domain/cache-key.ts';
import type { Audition } from '../../src/domain/audition.ts';

/** A cache key as the service makes them (a sha256, 64 hex digits), named by a label. */
export const keyOf = (label: string): string => createHash('sha256').update(label).digest('hex');

/** The key the service gives the tenant's audition on an engine: Azure's, in its MP3 format, unless told. */
export const auditionKeyOf = (
  tenantId: string,
  audition: Audition,
  provider = 'azure',
  outputFormat = 'audio-24khz-48kbitrate-mono-mp3',
): string => computeCacheKey({ tenantId, provider, outputFormat, audition });
