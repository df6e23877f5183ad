/** music-metadata, loaded at the first synthesis: a start or a hit does not need it (~90 ms to load). */
let parser: typeof import('music-metadata') | undefined;

/** Duration in seconds read from MP3 bytes; undefined when they cannot be parsed. */
export async function readMp3Duration(audio: Uint8Array): Promise<number | undefined> {
  try {
    // A require() the deployment bundle keeps lazy (an import would be evaluated at start).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    parser ??= require('music-metadata') as typeof import('music-metadata');
    const { format } = await parser.parseBuffer(
      audio,
      { mimeType: 'audio/mpeg', size: audio.length },
      { duration: true },
    );
    return format.duration !== undefined && Number.isFinite(format.duration) ? format.duration : undefined;
  } catch {
    return undefined;
  }
}
