/** What answered an audition: synthesized now, the cache, or synthesized because the cache failed. */
export type CacheStatus = 'MISS' | 'HIT-L2' | 'BYPASS';

/** An audition's audio as the cache answers it. */
export interface AuditionAudio {
  status: CacheStatus;
  /**
   * The whole audio; or a stream: a miss whose engine streams, as it is synthesized (it
   * errors if the synthesis fails midway, and ends once the audio is stored), or a stored
   * entry's audio as it arrives from Blob Storage (it errors if the read breaks off midway).
   */
  audio: Buffer | ReadableStream<Uint8Array>;
  cacheKey: string;
  /** Known when the audio is whole or stored (a streamed miss learns it only at the end). */
  durationSeconds: number | undefined;
  /** The stream's length when it is known beforehand (a stored entry's blob); a Buffer has its own. */
  sizeBytes?: number;
}

/** Audio that is whole, as identical requests waiting for one synthesis share it. */
export type WholeAudio = AuditionAudio & { audio: Buffer };

/** Synthesized audio, before it is stored. */
export interface SynthesizedAudition {
  audio: Buffer;
  durationSeconds: number | undefined;
}

/** Whether two tenant ids are one tenant (a uuid, in whatever case a row or a token spells it). */
export function sameTenant(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
