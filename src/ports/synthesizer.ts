import type { Audition } from '../domain/audition.ts';

/** The speech service as the audition service needs it: SSML in, MP3 out. */
export interface Synthesizer {
  /** Part of every cache key: audio from another engine is another entry. */
  readonly provider: string;
  /** Whether a project (or the service) must bring a key for this engine. */
  readonly requiresCredentials: boolean;
  /** The output format requested, e.g. `audio-24khz-48kbitrate-mono-mp3`. */
  readonly outputFormat: string;
  /** Starts a synthesis and gives it back: its audio as it comes, and whole once it has all come. */
  synthesize(request: SynthesisRequest): Synthesis;
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
}

/** A synthesis under way. */
export interface Synthesis {
  /**
   * Settles as soon as there is audio: `streaming` at its first piece, `whole` when the synthesis ended without
   * streaming (an engine that cannot). Rejects with the synthesis's failure when it fails before either.
   */
  readonly started: Promise<'streaming' | 'whole'>;
  /**
   * The audio piece by piece as the engine produces it (the pieces, in order, are the whole): it ends with the last
   * piece and errors if the synthesis fails. An engine that cannot stream gives the whole as one piece at the end. A
   * reader that cancels stops only its own reading: the synthesis goes on to `whole`.
   */
  readonly audio: ReadableStream<Uint8Array>;
  /** The whole audio once the synthesis has ended, or its failure. */
  readonly whole: Promise<SynthesizedAudio>;
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

/**
 * How an engine gives a synthesis back: it `push`es each piece of audio as it arrives, then `end`s with the whole or
 * `fail`s. The first of those settles `started`; every promise it hands out is already handled, so a reader that awaits
 * only one of them leaves no unhandled rejection behind.
 */
export class SynthesisFeed implements Synthesis {
  readonly started: Promise<'streaming' | 'whole'>;
  readonly audio: ReadableStream<Uint8Array>;
  readonly whole: Promise<SynthesizedAudio>;
  #start!: (how: 'streaming' | 'whole') => void;
  #startFailed!: (error: unknown) => void;
  #end!: (audio: SynthesizedAudio) => void;
  #fail!: (error: unknown) => void;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pushed = false;
  #settled = false;
  #cancelled = false;

  constructor() {
    this.started = new Promise((resolve, reject) => ((this.#start = resolve), (this.#startFailed = reject)));
    this.whole = new Promise((resolve, reject) => ((this.#end = resolve), (this.#fail = reject)));
    this.audio = new ReadableStream<Uint8Array>({
      start: (controller) => void (this.#controller = controller),
      cancel: () => void (this.#cancelled = true),
    });
    void this.started.catch(() => {});
    void this.whole.catch(() => {});
  }

  /** A piece of audio, as the engine produced it. */
  push(piece: Buffer): void {
    if (this.#settled) return;
    this.#pushed = true;
    this.#start('streaming');
    if (!this.#cancelled) this.#controller.enqueue(piece);
  }

  /** The synthesis ended with this audio (the pieces pushed, together, if it streamed). */
  end(result: SynthesizedAudio): void {
    if (this.#settled) return;
    this.#settled = true;
    if (!this.#cancelled) {
      if (!this.#pushed) this.#controller.enqueue(result.audio);
      this.#controller.close();
    }
    this.#start('whole');
    this.#end(result);
  }

  /** The synthesis failed. */
  fail(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (!this.#cancelled) this.#controller.error(error);
    this.#startFailed(error);
    this.#fail(error);
  }
}
