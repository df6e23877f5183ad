import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import { AzureSpeechSynthesizer } from '../../src/adapters/azure-speech-synthesizer.ts';
import { SynthesisError } from '../../src/ports/synthesizer.ts';
import {
  startSpeechStandIn,
  type SpeechStandIn,
  type StandInBehaviour,
} from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { describeSynthesizerContract } from '../ports/synthesizer.contract.ts';
import { piecesOf } from '../support/synthesis-pieces.ts';

const AUDITION = parseAuditionBody({ voice: 'es-AR-ElenaNeural', text: 'Hola' });
const SSML =
  '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="es-AR"><voice name="es-AR-ElenaNeural">Hola</voice></speak>';

describe('AzureSpeechSynthesizer (real Speech SDK against a local stand-in)', () => {
  let standIn: SpeechStandIn;
  let tone: Buffer;
  beforeAll(async () => {
    tone = await encodeToneMp3(1);
    standIn = await startSpeechStandIn(tone);
  });
  afterAll(() => standIn.stop());

  const synthesizer = (timeoutMs = 2_000) => new AzureSpeechSynthesizer({ host: standIn.host, timeoutMs });
  const failureOf = async (behaviour: StandInBehaviour, timeoutMs?: number) => {
    standIn.behave(behaviour);
    const error = await synthesizer(timeoutMs)
      .synthesize({ ssml: SSML, audition: AUDITION, credentials: { key: 'k' } })
      .whole.catch((e: unknown) => e);
    standIn.behave({ kind: 'audio' });
    expect(error).toBeInstanceOf(SynthesisError);
    return (error as SynthesisError).failure;
  };

  it('returns the MP3 bytes the service sent, asking for 24 kHz 48 kbps mono MP3 with the given key', async () => {
    standIn.behave({ kind: 'audio' });
    const result = await synthesizer().synthesize({
      ssml: SSML,
      audition: AUDITION,
      credentials: { key: 'project-key' },
    }).whole;
    expect(result.audio.equals(tone)).toBe(true);
    expect(standIn.received.at(-1)).toMatchObject({
      key: 'project-key',
      ssml: SSML,
      outputFormat: 'audio-24khz-48kbitrate-mono-mp3',
    });
  });

  it('gives back each piece of audio as it arrives, before the whole (for streamed misses)', async () => {
    const long = await encodeToneMp3(3);
    standIn.behave({ kind: 'audio', audio: long, chunkIntervalMs: 60 });
    try {
      const synthesis = synthesizer().synthesize({ ssml: SSML, audition: AUDITION, credentials: { key: 'k' } });
      const chunks = await piecesOf(synthesis);
      const result = await synthesis.whole;
      const done = performance.now();
      expect(chunks.length).toBe(Math.ceil(long.length / 4096));
      expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(long)).toBe(true);
      expect(result.audio.equals(long)).toBe(true);
      // The first piece came a whole turn of chunks before the end.
      expect(done - chunks[0]!.at).toBeGreaterThan((chunks.length - 1) * 60 * 0.8);
    } finally {
      standIn.behave({ kind: 'audio' });
    }
  });

  describe('connections kept between syntheses (the SDK set-up and, on Azure, a TLS handshake saved per miss)', () => {
    const speak = (engine: AzureSpeechSynthesizer, key: string) =>
      engine.synthesize({ ssml: SSML, audition: AUDITION, credentials: { key } }).whole;

    it('a second synthesis with the same key runs on the connection the first kept; another key opens its own', async () => {
      standIn.behave({ kind: 'audio' });
      const engine = synthesizer();
      try {
        const opened = standIn.connections;
        expect((await speak(engine, 'key-a')).audio.equals(tone)).toBe(true);
        expect((await speak(engine, 'key-a')).audio.equals(tone)).toBe(true);
        expect(standIn.connections - opened).toBe(1);
        await speak(engine, 'key-b');
        expect(standIn.connections - opened).toBe(2);
        // Each synthesis went out on a connection opened with its own key.
        expect(standIn.received.slice(-3).map((r) => r.key)).toEqual(['key-a', 'key-a', 'key-b']);
      } finally {
        engine.close();
      }
    });

    it('a kept connection a minute old is not used again: the next synthesis opens one (the key asked for again)', async () => {
      standIn.behave({ kind: 'audio' });
      const clock = { now: new Date('2031-03-01T10:00:00Z') };
      const engine = new AzureSpeechSynthesizer({ host: standIn.host, timeoutMs: 2_000, now: () => clock.now });
      try {
        const opened = standIn.connections;
        await speak(engine, 'key-aged');
        clock.now = new Date(clock.now.getTime() + 59_000);
        await speak(engine, 'key-aged'); // kept, 59 s old
        expect(standIn.connections - opened).toBe(1);
        clock.now = new Date(clock.now.getTime() + 1_000);
        await speak(engine, 'key-aged');
        expect(standIn.connections - opened).toBe(2);
        await vi.waitFor(() => expect(standIn.openConnectionsWith('key-aged')).toBe(1)); // the aged one closed
      } finally {
        engine.close();
      }
    });

    it('a kept connection the service ended while idle is not reserved: one is opened ahead instead', async () => {
      standIn.behave({ kind: 'audio' });
      const engine = synthesizer();
      try {
        const opened = standIn.connections;
        await speak(engine, 'key-idle-drop');
        await vi.waitFor(() => expect(standIn.openConnectionsWith('key-idle-drop')).toBe(1));
        standIn.dropConnections('close'); // the service ends idle connections
        await vi.waitFor(() => expect(standIn.openConnectionsWith('key-idle-drop')).toBe(0));
        await new Promise((resolve) => setTimeout(resolve, 1_000)); // the SDK hears of it (its close event)
        engine.prepare({ key: 'key-idle-drop' });
        await vi.waitFor(() => expect(standIn.openConnectionsWith('key-idle-drop')).toBe(1)); // opened ahead, now
        expect((await speak(engine, 'key-idle-drop')).audio.equals(tone)).toBe(true);
        expect(standIn.connections - opened).toBe(2); // the one opened ahead was used
      } finally {
        engine.close();
      }
    });

    it('a prepared connection is the one the synthesis uses; a failed synthesis does not keep its own', async () => {
      const engine = synthesizer();
      try {
        const opened = standIn.connections;
        engine.prepare({ key: 'key-p' });
        await speak(engine, 'key-p');
        expect(standIn.connections - opened).toBe(1);
        standIn.behave({ kind: 'close', code: 1011, reason: 'Internal error' });
        await expect(speak(engine, 'key-p')).rejects.toBeInstanceOf(SynthesisError);
        standIn.behave({ kind: 'audio' });
        await speak(engine, 'key-p');
        expect(standIn.connections - opened).toBe(2);
      } finally {
        standIn.behave({ kind: 'audio' });
        engine.close();
      }
    });

    it('closes a connection opened ahead and never used, and every kept one, when it closes', async () => {
      standIn.behave({ kind: 'audio' });
      // Those other tests' engines kept, ended first.
      standIn.dropConnections('reset');
      await vi.waitFor(() => expect(standIn.openConnections).toBe(0));
      const engine = synthesizer();
      await speak(engine, 'key-kept');
      engine.prepare({ key: 'key-unused' });
      await vi.waitFor(() => expect(standIn.openConnections).toBe(2));
      engine.close();
      await vi.waitFor(() => expect(standIn.openConnections).toBe(0));
    });

    it.each(['close', 'reset'] as const)(
      'a kept connection the service ends (%s) just as the next synthesis goes out on it: that one retries on a new connection',
      async (how) => {
        standIn.behave({ kind: 'audio' });
        const engine = synthesizer();
        try {
          const opened = standIn.connections;
          await speak(engine, 'key-idle');
          standIn.dropConnections(how);
          expect((await speak(engine, 'key-idle')).audio.equals(tone)).toBe(true);
          expect(standIn.connections - opened).toBe(2);
        } finally {
          engine.close();
        }
      },
    );
  });

  it.each([
    [{ kind: 'reject-upgrade', status: 401 }, 'credentials-rejected'],
    [{ kind: 'reject-upgrade', status: 403 }, 'credentials-rejected'],
    [{ kind: 'reject-upgrade', status: 429 }, 'throttled'],
    [{ kind: 'close', code: 4429, reason: 'exceeded the concurrent request limit' }, 'throttled'],
    [{ kind: 'close', code: 1007, reason: 'Throttled due to too many requests' }, 'throttled'],
    [{ kind: 'close', code: 1007, reason: 'Invalid SSML: voice not found' }, 'rejected-request'],
    [{ kind: 'close', code: 1008, reason: 'Quota exceeded' }, 'failed'],
    [{ kind: 'close', code: 1011, reason: 'Internal error' }, 'failed'],
    [{ kind: 'no-audio' }, 'failed'],
  ] as [StandInBehaviour, string][])('classifies %j as %s', async (behaviour, failure) => {
    expect(await failureOf(behaviour)).toBe(failure);
  });

  it.each([[{ kind: 'hang' }], [{ kind: 'close-mid-turn' }]] as [StandInBehaviour][])(
    'gives up with a timeout when the service %j',
    async (behaviour) => {
      expect(await failureOf(behaviour, 500)).toBe('timeout');
    },
  );

  describe('deadlines, each ending the synthesis with its own reason while the whole is far off', () => {
    // The whole synthesis may take 30 s, and the deadlines not under test are generous: only
    // the one under test can end these (a busy machine's slow connect does not count).
    const generous = { timeoutMs: 30_000, connectTimeoutMs: 5_000, firstAudioTimeoutMs: 5_000, chunkTimeoutMs: 5_000 };
    const stalled = async (behaviour: StandInBehaviour, deadlines: Partial<typeof generous>) => {
      standIn.behave(behaviour);
      const synthesis = new AzureSpeechSynthesizer({ host: standIn.host, ...generous, ...deadlines }).synthesize({
        ssml: SSML,
        audition: AUDITION,
        credentials: { key: 'k' },
      });
      const chunks = (await piecesOf(synthesis)).map((piece) => piece.bytes);
      const error = await synthesis.whole.catch((e: unknown) => e);
      standIn.behave({ kind: 'audio' });
      expect(error).toBeInstanceOf(SynthesisError);
      return { error: error as SynthesisError, chunks };
    };

    it('the connection: a service that takes the connection and never answers the upgrade', async () => {
      const { error, chunks } = await stalled({ kind: 'stall-upgrade' }, { connectTimeoutMs: 400 });
      expect(error).toMatchObject({
        failure: 'timeout',
        message: 'Could not connect to the speech service within 400 ms',
      });
      expect(chunks).toEqual([]);
    });

    it('the first audio: a service that takes the SSML and sends nothing', async () => {
      const { error } = await stalled({ kind: 'hang' }, { firstAudioTimeoutMs: 1_500 });
      expect(error).toMatchObject({ failure: 'timeout', message: 'No audio within 1500 ms' });
    });

    it('each next chunk: a service that stops midway, after its first chunk', async () => {
      const { error, chunks } = await stalled(
        { kind: 'audio', audio: await encodeToneMp3(3), stallAfterChunks: 1 },
        { chunkTimeoutMs: 300 },
      );
      expect(error).toMatchObject({
        failure: 'timeout',
        message: 'The speech service stopped sending audio for 300 ms midway',
      });
      expect(chunks).toHaveLength(1);
    });

    it('none of them for a service that is slow but keeps sending: the chunk deadline is per chunk, not for the whole', async () => {
      const long = await encodeToneMp3(10); // ~15 chunks, 100 ms apart: longer in all than one chunk deadline
      standIn.behave({ kind: 'audio', audio: long, delayMs: 200, chunkIntervalMs: 100 });
      const started = performance.now();
      const result = await new AzureSpeechSynthesizer({
        host: standIn.host,
        ...generous,
        chunkTimeoutMs: 1_000,
      }).synthesize({
        ssml: SSML,
        audition: AUDITION,
        credentials: { key: 'k' },
      }).whole;
      standIn.behave({ kind: 'audio' });
      expect(result.audio.equals(long)).toBe(true);
      expect(performance.now() - started).toBeGreaterThan(1_000);
    });
  });

  it('reports a connection failure when nothing listens', async () => {
    const dead = new AzureSpeechSynthesizer({ host: 'ws://127.0.0.1:9', timeoutMs: 5_000 });
    const error = await dead
      .synthesize({ ssml: SSML, audition: AUDITION, credentials: { key: 'k' } })
      .whole.catch((e: unknown) => e);
    // The refusal itself, not a timeout (Node ≥ 22's built-in WebSocket reports neither).
    expect(error).toMatchObject({ failure: 'failed', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('answers a slow service within its timeout', async () => {
    standIn.behave({ kind: 'audio', delayMs: 300 });
    const result = await synthesizer(3_000).synthesize({ ssml: SSML, audition: AUDITION, credentials: { key: 'k' } })
      .whole;
    expect(result.audio.length).toBe(tone.length);
  });
});

describe('AzureSpeechSynthesizer against the Synthesizer contract', () => {
  let standIn: SpeechStandIn;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(1));
  });
  afterAll(() => standIn.stop());

  // The stand-in keeps a behaviour until told otherwise: each test's harness starts it answering.
  describeSynthesizerContract('AzureSpeechSynthesizer on the speech stand-in', async () => {
    standIn.behave({ kind: 'audio' });
    const from = standIn.received.length;
    return {
      synthesizer: new AzureSpeechSynthesizer({ host: standIn.host, timeoutMs: 5_000 }),
      credentials: { key: 'contract-key' },
      received: () => standIn.received.slice(from).map(({ ssml, key }) => ({ ssml, key })),
      refuseCredentialsNext: () => standIn.behave({ kind: 'reject-upgrade', status: 401 }),
      throttleNext: () => standIn.behave({ kind: 'reject-upgrade', status: 429 }),
    };
  });
});
