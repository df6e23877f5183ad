import type { Audition } from '../domain/audition.ts';

/** The speech service as the audition service needs it: SSML in, MP3 out. */
export interface Synthesizer {
  /** Part of every cache key: audio from another engine is another entry. */
  readonly provider: string;
  /** Whether a project (or the service) must bring a key for this engine. */
  readonly requiresCredentials: boolean;
  /** The output format requested, e.g. `audio-24khz-48kbitrate-mono-mp3`. */
  readonly outputFormat: string;
  synthesize(request: SynthesisRequest): Promise<SynthesizedAudio>;
  /** Optional: get ready for a synthesis with these credentials (e.g. open the connection). */
  prepare?(credentials: SpeechCredentials): void;
  /** Optional: let go of anything prepared (the app is stopping). */
  close?(): void;
}

export interface SpeechCredentials {
  key: string;
  /** Azure region of the key; unused when a host (a Speech container) is configured. */
  region?: string;
}

export interface SynthesisRequest {
  ssml: string;
  /** The same audition, for engines that do not speak SSML. */
  audition: Audition;
  /** Present whenever the engine requires credentials. */
  credentials?: SpeechCredentials;
  /**
   * Called with each piece of audio as the engine produces it, before the promise resolves
   * with the whole (engines that cannot stream never call it). The pieces, in order, are the
   * whole audio.
   */
  onAudio?: (chunk: Buffer) => void;
}

export interface SynthesizedAudio {
  audio: Buffer;
  /** As reported by the service, when it does. */
  durationSeconds?: number;
}

export type SynthesisFailure =
  /** The key was refused (401/403). */
  | 'credentials-rejected'
  /** Too many requests (429, 4429, or a close whose reason says throttled). */
  | 'throttled'
  /** The service refused the SSML or the voice. */
  | 'rejected-request'
  /** No complete answer within the synthesizer's own timeout. */
  | 'timeout'
  /** Anything else: connection failures, server errors, empty audio. */
  | 'failed';

export class SynthesisError extends Error {
  constructor(
    readonly failure: SynthesisFailure,
    message: string,
  ) {
    super(message);
    this.name = 'SynthesisError';
  }
}
