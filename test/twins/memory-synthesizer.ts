import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Audition } from '../../src/domain/audition.ts';
import {
  SynthesisError,
  SynthesisFeed,
  type SpeechCredentials,
  type Synthesis,
  type SynthesisFailure,
  type SynthesisRequest,
  type SynthesizedAudio,
  type Synthesizer,
} from '../../src/ports/synthesizer.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';

export interface MemorySynthesizerOptions {
  provider?: string;
  outputFormat?: string;
  /** As Azure (the default): every request must carry credentials. */
  requiresCredentials?: boolean;
  /** What every synthesis returns; by default a real MP3 of a one-second tone. */
  audio?: Buffer;
  /** The size of the pieces it streams (the stand-in's and Azure's frames are 4 KB). */
  chunkBytes?: number;
  /** False: an engine that cannot stream (the whole audio comes at the end, as eSpeak's). */
  streams?: boolean;
  /** Waited before the audio (on the timers, so fake timers control it). */
  latencyMs?: number;
}

export interface ReceivedSynthesis {
  ssml: string;
  audition: Audition;
  credentials?: SpeechCredentials;
}

// Encoded once per test worker: lamejs takes a few milliseconds per second of audio.
let tone: Promise<Buffer> | undefined;
const defaultAudio = () => (tone ??= encodeToneMp3(1));

/**
 * An in-memory Synthesizer: the twin of AzureSpeechSynthesizer for use-case tests. It answers
 * with real MP3 bytes, streamed in pieces (or whole, when told it cannot stream), remembers what it was asked, and
 * can fail, be slow, or hold every synthesis until the test lets them go.
 */
export class MemorySynthesizer implements Synthesizer {
  readonly provider: string;
  readonly outputFormat: string;
  readonly requiresCredentials: boolean;
  /** Every synthesis asked for, in order (failed ones included). */
  readonly received: ReceivedSynthesis[] = [];
  /** Credentials of each prepare() call, in order. */
  readonly prepared: SpeechCredentials[] = [];
  closed = 0;
  /** Syntheses started and not yet settled; the most at once since creation. */
  inFlight = 0;
  maxInFlight = 0;

  readonly #options: MemorySynthesizerOptions;
  readonly #failures: SynthesisFailure[] = [];
  #gate: { released: Promise<void>; release(): void } | undefined;
  readonly #waiters: { count: number; resolve(): void }[] = [];

  constructor(options: MemorySynthesizerOptions = {}) {
    this.#options = options;
    this.provider = options.provider ?? 'memory';
    this.outputFormat = options.outputFormat ?? 'audio-24khz-48kbitrate-mono-mp3';
    this.requiresCredentials = options.requiresCredentials ?? true;
  }

  /** How many syntheses were asked for. */
  get calls(): number {
    return this.received.length;
  }

  /** The audio a successful synthesis returns. */
  audio(): Promise<Buffer> {
    return this.#options.audio ? Promise.resolve(this.#options.audio) : defaultAudio();
  }

  /** The next synthesis asked for fails with this (several calls queue several failures). */
  failNext(failure: SynthesisFailure): void {
    this.#failures.push(failure);
  }

  /** Holds every synthesis asked for from now on, before its audio, until release(). */
  hold(): void {
    if (this.#gate) return;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#gate = { released, release };
  }

  /** Lets every held synthesis go on, and holds no more. */
  release(): void {
    this.#gate?.release();
    this.#gate = undefined;
  }

  /** Resolves once `count` syntheses in all have been asked for (held ones included). */
  waitForCalls(count: number): Promise<void> {
    if (this.calls >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  prepare(credentials: SpeechCredentials): void {
    this.prepared.push(credentials);
  }

  close(): void {
    this.closed++;
  }

  synthesize(request: SynthesisRequest): Synthesis {
    const feed = new SynthesisFeed();
    this.#run(request, feed).then(
      (audio) => feed.end(audio),
      (error: unknown) => feed.fail(error),
    );
    return feed;
  }

  async #run({ ssml, audition, credentials }: SynthesisRequest, feed: SynthesisFeed): Promise<SynthesizedAudio> {
    this.received.push({ ssml, audition, credentials });
    // Taken now: the failure belongs to the request asked for next, whatever settles first.
    const failure = this.#failures.shift();
    const gate = this.#gate;
    for (const waiter of this.#waiters.filter((w) => this.calls >= w.count)) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.requiresCredentials && !credentials) throw new SynthesisError('failed', 'No speech key was given');
      await gate?.released;
      if (this.#options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.#options.latencyMs));
      if (failure) throw new SynthesisError(failure, `MemorySynthesizer: ${failure} (injected)`);
      const audio = Buffer.from(await this.audio()); // the caller's own copy
      if (this.#options.streams !== false) {
        const size = this.#options.chunkBytes ?? 4096;
        for (let offset = 0; offset < audio.length; offset += size) {
          if (offset > 0) await nextTurn(); // pieces arrive apart, as from a socket
          feed.push(Buffer.from(audio.subarray(offset, offset + size)));
        }
      }
      return { audio };
    } finally {
      this.inFlight--;
    }
  }
}
