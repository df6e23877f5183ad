import type { Audition } from '../domain/audition.ts';
import {
  SynthesisError,
  SynthesisFeed,
  type Synthesis,
  type SynthesisRequest,
  type SynthesizedAudio,
  type Synthesizer,
} from '../ports/synthesizer.ts';

// A real offline voice for development (TTS_PROVIDER=local): eSpeak NG compiled to WebAssembly
// speaks the line, lamejs encodes the MP3. Both are development dependencies (eSpeak NG is
// GPL-3.0): they are loaded only when this provider is selected and are never deployed.

type ESpeakModule = { FS: { readFile(path: string): Uint8Array } };
type ESpeakFactory = (options: {
  arguments: string[];
  print?: (line: string) => void;
  printErr?: (line: string) => void;
}) => Promise<ESpeakModule>;

const SPEED_WPM = 165; // eSpeak's default is 175; a little slower reads better as a demo

export class LocalSpeechSynthesizer implements Synthesizer {
  readonly provider = 'local';
  readonly requiresCredentials = false;
  readonly outputFormat = 'espeak-ng-22khz-48kbitrate-mono-mp3';
  #voices: Promise<Set<string>> | undefined;

  /** eSpeak NG cannot stream: the whole audio comes at the end. */
  synthesize({ audition }: SynthesisRequest): Synthesis {
    const feed = new SynthesisFeed();
    this.#speak(audition).then(
      (audio) => feed.end(audio),
      (error: unknown) => feed.fail(error),
    );
    return feed;
  }

  async #speak(audition: Audition): Promise<SynthesizedAudio> {
    const espeak = await loadESpeak();
    const voice = await this.#voiceFor(audition);
    const speed = Math.round(SPEED_WPM * (1 + audition.ratePct / 100));
    const pitch = Math.max(0, Math.min(99, Math.round(50 + audition.pitchPct)));
    let errors = '';
    const run = await espeak({
      arguments: [
        '-v',
        voice,
        '-s',
        String(Math.max(80, Math.min(450, speed))),
        '-p',
        String(pitch),
        '-w',
        'out.wav',
        '--',
        audition.text,
      ],
      print: () => {},
      printErr: (line) => (errors += `${line}\n`),
    });
    let wav: Uint8Array;
    try {
      wav = run.FS.readFile('out.wav');
    } catch {
      throw new SynthesisError('failed', `eSpeak NG produced no audio: ${errors.trim().split('\n')[0] ?? ''}`);
    }
    const audio = await encodeWavAsMp3(wav);
    if (audio.length === 0) throw new SynthesisError('failed', 'eSpeak NG produced no audio');
    return { audio };
  }

  /** The closest eSpeak voice: es-AR → es-419, en-US → en-us, fr-CA → fr, unknown → en. */
  async #voiceFor(audition: Audition): Promise<string> {
    this.#voices ??= listVoices();
    const voices = await this.#voices;
    const [language = 'en', region = ''] = audition.locale
      .toLowerCase()
      .split('-')
      .filter((part) => part.length !== 4);
    const candidates = [`${language}-${region}`, language === 'es' && region !== 'es' ? 'es-419' : '', language, 'en'];
    return candidates.find((candidate) => candidate && voices.has(candidate)) ?? 'en';
  }
}

let factory: Promise<ESpeakFactory> | undefined;
function loadESpeak(): Promise<ESpeakFactory> {
  // A name in a variable: the package ships no types, and it must stay an optional import.
  const name = 'espeak-ng';
  factory ??= (import(name) as Promise<{ default: ESpeakFactory }>).then(
    (module) => module.default,
    (error: unknown) => {
      factory = undefined;
      // The deployment package (npm run package) carries no development dependency.
      throw new SynthesisError(
        'failed',
        `TTS_PROVIDER=local needs the development dependency espeak-ng (npm ci; not deployed): ${String(error)}`,
      );
    },
  );
  return factory;
}

async function listVoices(): Promise<Set<string>> {
  const voices = new Set<string>();
  const espeak = await loadESpeak();
  await espeak({
    arguments: ['--voices'],
    print: (line) => {
      const name = line.trim().split(/\s+/)[1];
      if (name && name !== 'Language') voices.add(name.toLowerCase());
    },
    printErr: () => {},
  });
  return voices;
}

/** 16-bit PCM WAV (what eSpeak writes) → MP3 at the WAV's own rate, mono, 48 kbps. */
async function encodeWavAsMp3(wav: Uint8Array): Promise<Buffer> {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  let offset = 12;
  let sampleRate = 22_050;
  let samples: Int16Array | undefined;
  while (offset + 8 <= wav.byteLength) {
    const id = String.fromCharCode(...wav.subarray(offset, offset + 4));
    const size = view.getUint32(offset + 4, true);
    if (id === 'fmt ') sampleRate = view.getUint32(offset + 12, true);
    if (id === 'data') {
      const length = Math.min(size, wav.byteLength - offset - 8);
      samples = new Int16Array(wav.slice(offset + 8, offset + 8 + length - (length % 2)).buffer);
      break;
    }
    offset += 8 + size + (size % 2);
  }
  if (!samples || samples.length === 0) return Buffer.alloc(0);
  const { Mp3Encoder } = (await import('@breezystack/lamejs')) as typeof import('@breezystack/lamejs');
  const encoder = new Mp3Encoder(1, sampleRate, 48);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i += 1152) chunks.push(encoder.encodeBuffer(samples.subarray(i, i + 1152)));
  chunks.push(encoder.flush());
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}
