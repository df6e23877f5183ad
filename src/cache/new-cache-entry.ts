import { voiceSettingsOf, type Audition } from '../domain/audition.ts';
import type { SynthesizedAudition } from '../domain/audition-audio.ts';
import type { NewCacheEntry } from '../ports/audio-cache-index.ts';
import type { CacheSlot } from './audio-cache.ts';

/** The index row of a synthesized audition whose blob was just stored at `blob.path` (in the slot's account). */
export function newCacheEntry(
  slot: CacheSlot,
  audition: Audition,
  ssml: string,
  { audio, durationSeconds }: SynthesizedAudition,
  blob: {
    path: string;
    url: string;
    engine: { provider: string; outputFormat: string };
    createdAt: Date;
    expiresAt: Date;
  },
): NewCacheEntry {
  return {
    tenantId: slot.tenantId,
    cacheKey: slot.cacheKey,
    text: audition.text,
    ssml,
    voiceId: audition.voice,
    voiceSettings: voiceSettingsOf(audition, blob.engine),
    audioBlobPath: blob.path,
    audioUrl: blob.url,
    audioDurationSeconds: durationSeconds ?? null,
    audioFileSizeBytes: audio.length,
    createdAt: blob.createdAt,
    expiresAt: blob.expiresAt,
    predictive: slot.predictive === true,
    ...(slot.store ? { store: { storeId: slot.store.storeId, projectId: slot.store.projectId } } : {}),
  };
}
