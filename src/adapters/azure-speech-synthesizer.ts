import type * as SpeechSdk from 'microsoft-cognitiveservices-speech-sdk';
import type {
  CancellationErrorCode,
  SpeechConfig,
  SpeechSynthesisResult,
  SpeechSynthesizer,
} from 'microsoft-cognitiveservices-speech-sdk';
import {
  SynthesisError,
  SynthesisFeed,
  type SpeechCredentials,
  type Synthesis,
  type SynthesisRequest,
  type SynthesizedAudio,
  type Synthesizer,
} from '../ports/synthesizer.ts';
import { SpeechSessions } from './speech-sessions.ts';
import { systemClock, type Clock } from '../clock.ts';

let loaded: typeof SpeechSdk | undefined;

/**
 * The Speech SDK, loaded at the first synthesis (or connection opened ahead), not when the
 * app starts: an instance's start and its hits do not need its ~250 modules. The transport
 * is fixed as it loads (useNodeWebSocketTransport).
 */
function speechSdk(): typeof SpeechSdk {
  if (!loaded) {
    // require(), which the deployment bundle keeps lazy (an import would be evaluated at start).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sdk = require('microsoft-cognitiveservices-speech-sdk') as typeof SpeechSdk;
    useNodeWebSocketTransport();
    loaded = sdk;
  }
  return loaded;
}

/**
 * How long a connection opened ahead, or kept after its synthesis, waits for the next before it is closed: long enough
 * for a user auditioning one voice after another on the casting page.
 */
const IDLE_CONNECTION_MS = 15_000;
/**
 * The longest a connection is kept, however often it is used: how long a key revoked or rotated meanwhile can go on
 * working on an open websocket. One new connection a minute for a busy key costs nothing worth keeping it longer.
 */
const MAX_CONNECTION_AGE_MS = 60_000;
/** Connections kept idle, per key and in all (speech-sessions.ts). */
const IDLE_PER_KEY = 2;
const IDLE_TOTAL = 32;

/**
 * Puts the SDK on the `ws` package on every Node version, as on Node 20.
 *
 * Speech SDK 1.52 uses the runtime's global `WebSocket` whenever one exists, i.e. on Node 22
 * and 24 (`WebsocketMessageAdapter.open()`), and `ws` only where there is none. The global one
 * (undici) reports a refused upgrade as a bare close 1006 with no HTTP status, so a rejected
 * key (401/403), throttling (429) and a refused connection all look alike there: the SDK
 * retries and the caller sees a timeout or a generic failure instead of 502 / 503 +
 * Retry-After. `ws` reports `Unexpected server response: 429`, which `classifyCancellation`
 * reads. (`ws` is also the SDK's own Node path: it sends the key as a header, and it is what
 * the SDK uses behind a proxy.) The flag is a static of the SDK's, read on every connect.
 */
function useNodeWebSocketTransport(): void {
  // The SDK has no public switch for its websocket transport; this class is where it chooses.
  // A literal require(): the deployment bundle must see (and include) the module.
  const { WebsocketMessageAdapter } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('microsoft-cognitiveservices-speech-sdk/distrib/lib/src/common.browser/WebsocketMessageAdapter.js') as {
      WebsocketMessageAdapter: { forceNpmWebSocket?: unknown };
    };
  if (typeof WebsocketMessageAdapter?.forceNpmWebSocket !== 'boolean') {
    // Fail loudly rather than misreport every speech failure after an SDK upgrade.
    throw new Error(
      'microsoft-cognitiveservices-speech-sdk no longer has WebsocketMessageAdapter.forceNpmWebSocket: ' +
        're-check its transport choice',
    );
  }
  WebsocketMessageAdapter.forceNpmWebSocket = true;
}

function credentialsId({ key, region }: SpeechCredentials): string {
  return `${region ?? ''}\u0000${key}`;
}

export interface AzureSpeechOptions {
  /** `ws://host:port` of a Speech container (or a stand-in) instead of the regional service. */
  host?: string;
  /** The whole synthesis (TTS_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** The websocket open, from the call (TTS_CONNECT_TIMEOUT_SECONDS). */
  connectTimeoutMs?: number;
  /** The first audio, from the call (TTS_FIRST_AUDIO_TIMEOUT_SECONDS). */
  firstAudioTimeoutMs?: number;
  /** Each next chunk of audio, from the one before (TTS_CHUNK_TIMEOUT_SECONDS). */
  chunkTimeoutMs?: number;
  /** The clock a kept connection's age is read on (the system's by default). */
  now?: Clock;
}

/** A synthesizer and whether its websocket is open (one opened ahead may be already). */
interface Session {
  synthesizer: SpeechSynthesizer;
  connected: boolean;
  /** When it was made (its connection opened then, or at its first synthesis right after). */
  createdAt: number;
  /** Its connection was open and the service ended it. */
  dropped: boolean;
  /** Told when the websocket opens. */
  onConnected?: () => void;
  /** Told when it closes. */
  onDisconnected?: () => void;
}

/**
 * Synthesizer over the Azure Speech SDK. A SpeechSynthesizer serves one synthesis at a time (requests on a shared one
 * are serialised) and each project may bring its own key, so each synthesis has one of its own: opened ahead
 * (prepare), or kept from an earlier synthesis with the same key, its websocket still open (SpeechSessions: the SDK's
 * connection set-up and, on Azure, a TLS handshake to the region saved per miss); else opened now.
 *
 * The SDK never answers at all when the service accepts the connection and then goes quiet
 * (no upgrade, no audio, a turn that stops midway): its own timeouts are for reconnecting, not
 * for a caller. So every synthesis has deadlines of its own, and past any of them the
 * synthesizer is closed (its websocket with it) and the synthesis fails as `timeout`.
 */
export class AzureSpeechSynthesizer implements Synthesizer {
  readonly provider = 'azure';
  readonly requiresCredentials = true;
  readonly outputFormat = 'audio-24khz-48kbitrate-mono-mp3';

  /** Synthesizers whose connection is open (or opening) and not in use, by credentials. */
  readonly #sessions: SpeechSessions<Session>;
  readonly #now: Clock;

  constructor(private readonly options: AzureSpeechOptions) {
    const now = (this.#now = options.now ?? systemClock);
    this.#sessions = new SpeechSessions<Session>({
      idleMs: IDLE_CONNECTION_MS,
      perCredentials: IDLE_PER_KEY,
      total: IDLE_TOTAL,
      maxAgeMs: MAX_CONNECTION_AGE_MS,
      openedAt: (session) => session.createdAt,
      usable: (session) => !session.dropped,
      now: () => now().getTime(),
      close: (session) => closeQuietly(session),
    });
  }

  /**
   * Gets a connection ready for these credentials now, while the caller still checks whether it must synthesize (lock,
   * second lookup): an idle one is claimed, else one is opened. The next synthesize() with them starts on an open
   * websocket. Unused, it is closed after IDLE_CONNECTION_MS. Opening costs nothing billable.
   */
  prepare(credentials: SpeechCredentials): void {
    const id = credentialsId(credentials);
    if (this.#sessions.reserve(id) || this.#sessions.full) return;
    const session = this.#create(credentials);
    if (!session) return;
    speechSdk()
      .Connection.fromSynthesizer(session.synthesizer)
      .openConnection(undefined, () => {});
    this.#sessions.add(id, session);
  }

  close(): void {
    this.#sessions.closeAll();
  }

  #create(credentials: SpeechCredentials): Session | undefined {
    const { Connection, SpeechConfig, SpeechSynthesisOutputFormat, SpeechSynthesizer } = speechSdk();
    let config: SpeechConfig;
    if (this.options.host) {
      config = SpeechConfig.fromHost(new URL(this.options.host), credentials.key);
    } else if (credentials.region) {
      config = SpeechConfig.fromSubscription(credentials.key, credentials.region);
    } else {
      return undefined;
    }
    config.speechSynthesisOutputFormat = SpeechSynthesisOutputFormat.Audio24Khz48KBitRateMonoMp3;
    // A null audio config: the audio stays in memory.
    const session: Session = {
      synthesizer: new SpeechSynthesizer(config, null),
      connected: false,
      createdAt: this.#now().getTime(),
      dropped: false,
    };
    const connection = Connection.fromSynthesizer(session.synthesizer);
    connection.connected = () => {
      session.connected = true;
      session.dropped = false; // reopened (the SDK does, on a synthesis's path)
      session.onConnected?.();
    };
    // The service closed a kept connection (idle): the SDK opens a new one at the next synthesis, under its deadline.
    connection.disconnected = () => {
      session.connected = false;
      session.dropped = true;
      session.onDisconnected?.();
    };
    return session;
  }

  synthesize({ ssml, credentials }: SynthesisRequest): Synthesis {
    const feed = new SynthesisFeed();
    if (!credentials) {
      feed.fail(new SynthesisError('failed', 'No Azure Speech key was given'));
      return feed;
    }
    const id = credentialsId(credentials);
    const kept = this.#sessions.take(id);
    const session = kept ?? this.#create(credentials);
    if (!session) {
      feed.fail(new SynthesisError('failed', 'No Azure Speech region is configured for this key'));
      return feed;
    }
    const { timeoutMs } = this.options;
    const settle = settlesOnce((error) => feed.fail(error));
    settle.deadline(timeoutMs, `No complete audio within ${timeoutMs} ms`);
    let current = session;
    const retry = () => {
      // A kept connection the service closed just as this synthesis went out on it (before any audio): the SDK
      // would wait for a turn that never comes. Once, on a connection opened now.
      closeQuietly(current);
      const fresh = this.#create(credentials)!;
      current = fresh;
      this.#speak(fresh, ssml, feed, settle, undefined);
    };
    this.#speak(session, ssml, feed, settle, kept ? retry : undefined);
    // Kept for the next synthesis with this key once this one ended well; closed otherwise (after a deadline, that is
    // what lets go of a connection the service holds open). Kept ones are closed when idle (SpeechSessions).
    void feed.whole.then(
      () => this.#sessions.park(id, idle(current)),
      () => closeQuietly(current),
    );
    return feed;
  }

  /** One attempt of a synthesis on `session`, under its deadlines; `retry` when its connection drops before audio. */
  #speak(session: Session, ssml: string, feed: SynthesisFeed, settle: Settle, retry: (() => void) | undefined): void {
    const { synthesizer } = session;
    const { finish, deadline, cancel, isSettled } = settle;
    const {
      timeoutMs,
      connectTimeoutMs = timeoutMs,
      firstAudioTimeoutMs = timeoutMs,
      chunkTimeoutMs = timeoutMs,
    } = this.options;
    let abandoned = false;
    let audio = false;
    if (!session.connected) {
      const connecting = deadline(
        connectTimeoutMs,
        `Could not connect to the speech service within ${connectTimeoutMs} ms`,
      );
      session.onConnected = () => cancel(connecting);
    }
    // Until the first audio, then from each chunk to the next: a turn that stops midway.
    let quiet = deadline(firstAudioTimeoutMs, `No audio within ${firstAudioTimeoutMs} ms`);
    // The connection went away before any audio: this attempt is dropped for the retry, if this one may retry.
    const retried = () => {
      if (!retry || audio || abandoned || isSettled()) return false;
      abandoned = true;
      cancel(quiet);
      retry();
      return true;
    };
    session.onDisconnected = retried;
    synthesizer.synthesizing = (_sender, event) => {
      if (isSettled() || abandoned) return;
      audio = true;
      cancel(quiet);
      quiet = deadline(chunkTimeoutMs, `The speech service stopped sending audio for ${chunkTimeoutMs} ms midway`);
      // Each audio frame as it arrives from the service; the result then carries all of them.
      const chunk = event.result.audioData;
      if (chunk && chunk.byteLength > 0) feed.push(Buffer.from(chunk));
    };
    synthesizer.speakSsmlAsync(
      ssml,
      (result) => {
        if (abandoned) return;
        // The SDK ends the turn itself (Canceled, ConnectionFailure) when the connection drops with any code but 1000.
        if (droppedConnection(result) && retried()) return;
        finish(() => {
          try {
            feed.end(readResult(result));
          } catch (error) {
            feed.fail(error);
          }
        });
      },
      (message) => abandoned || finish(() => feed.fail(new SynthesisError('failed', `Speech SDK error: ${message}`))),
    );
  }
}

/** A kept session let go of what its last synthesis left on it (its closures hold that synthesis's audio). */
function idle(session: Session): Session {
  session.onConnected = undefined;
  session.onDisconnected = undefined;
  session.synthesizer.synthesizing = () => {};
  return session;
}

/**
 * Closes a session's synthesizer (one already closed, which the SDK throws for, is left as it is) and its connection.
 * The SDK's close ends only a connection a synthesis went out on: one opened ahead and never used would stay open,
 * keeping the process alive, until the service dropped it. That one is reached through the SDK's internals (its
 * adapter's `privConnectionPromise`; the test "closes a connection opened ahead and never used" pins it).
 */
function closeQuietly(session: Session): void {
  const adapter = (session.synthesizer as unknown as { internalData?: { privConnectionPromise?: unknown } })
    .internalData;
  const opening = adapter?.privConnectionPromise as Promise<{ dispose(): Promise<void> }> | null | undefined;
  try {
    session.synthesizer.close();
  } catch {
    // already disposed
  }
  if (opening && typeof opening.then === 'function') {
    opening.then((connection) => connection.dispose()).catch(() => {});
  }
}

/**
 * A turn the SDK ended because its connection went away (reset, 1006, or going away, 1001) rather than because the
 * service refused it (1007 invalid SSML, 1011, 4429 throttled… carry their own code and are the caller's error).
 */
function droppedConnection(result: SpeechSynthesisResult): boolean {
  const { CancellationDetails, CancellationErrorCode, ResultReason } = speechSdk();
  if (result.reason !== ResultReason.Canceled) return false;
  const details = CancellationDetails.fromResult(result);
  return (
    details.ErrorCode === CancellationErrorCode.ConnectionFailure &&
    /websocket error code: (1001|1006)\b/i.test(details.errorDetails ?? '')
  );
}

function readResult(result: SpeechSynthesisResult): SynthesizedAudio {
  const { CancellationDetails, ResultReason } = speechSdk();
  if (result.reason === ResultReason.SynthesizingAudioCompleted) {
    if (!result.audioData || result.audioData.byteLength === 0) {
      throw new SynthesisError('failed', 'The speech service returned no audio');
    }
    return {
      audio: Buffer.from(result.audioData),
      durationSeconds: result.audioDuration > 0 ? result.audioDuration / 10_000_000 : undefined,
    };
  }
  if (result.reason === ResultReason.Canceled) {
    const details = CancellationDetails.fromResult(result);
    throw new SynthesisError(
      classifyCancellation(details.ErrorCode, details.errorDetails ?? ''),
      details.errorDetails ?? 'Canceled',
    );
  }
  throw new SynthesisError('failed', `Unexpected synthesis result (reason ${result.reason})`);
}

/**
 * Every service failure arrives as a cancellation with a code and a text. The real service
 * has been seen throttling with 1007 ("Throttled due to too many requests") and 4429, so the
 * text is read as well as the code, throttling first.
 */
function classifyCancellation(code: CancellationErrorCode, details: string) {
  const { CancellationErrorCode } = speechSdk();
  if (/\b(429|4429)\b|throttl|too many requests|concurrent request limit/i.test(details)) return 'throttled';
  if (/\b(401|403)\b/.test(details) && !/websocket error code/i.test(details)) return 'credentials-rejected';
  if (code === CancellationErrorCode.AuthenticationFailure || code === CancellationErrorCode.Forbidden) {
    return 'credentials-rejected';
  }
  if (code === CancellationErrorCode.TooManyRequests) return 'throttled';
  if (code === CancellationErrorCode.BadRequestParameters) return 'rejected-request';
  return 'failed';
}

type Settle = ReturnType<typeof settlesOnce>;

/**
 * Settles a synthesis once: `finish` runs the first settlement and clears every deadline; a
 * deadline that passes first rejects it as a timeout.
 */
function settlesOnce(reject: (error: unknown) => void) {
  let settled = false;
  const timers = new Set<NodeJS.Timeout>();
  const finish = (settle: () => void) => {
    if (settled) return;
    settled = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    settle();
  };
  const deadline = (ms: number, message: string) => {
    const timer = setTimeout(() => finish(() => reject(new SynthesisError('timeout', message))), ms);
    timers.add(timer);
    return timer;
  };
  const cancel = (timer: NodeJS.Timeout) => {
    clearTimeout(timer);
    timers.delete(timer);
  };
  return { finish, deadline, cancel, isSettled: () => settled };
}
