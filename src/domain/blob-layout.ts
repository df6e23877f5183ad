/**
 * Where an audition's audio lives in the container (the guide's layout):
 * `audio-cache/{tenant_id}/{cache_key}.mp3`. The Khipu Cloud API writes the same layout.
 */
export const AUDIO_BLOB_PREFIX = 'audio-cache/';

const AUDIO_BLOB_PATH = /^audio-cache\/([0-9a-f-]{36})\/([0-9a-f]{64})\.mp3$/;

export function audioBlobPath(tenantId: string, cacheKey: string): string {
  return `${AUDIO_BLOB_PREFIX}${tenantId}/${cacheKey}.mp3`;
}

/** The tenant and key of a path in that layout; undefined for any other blob. */
export function parseAudioBlobPath(path: string): { tenantId: string; cacheKey: string } | undefined {
  const match = AUDIO_BLOB_PATH.exec(path);
  return match ? { tenantId: match[1]!, cacheKey: match[2]! } : undefined;
}
