import { parseBuffer } from 'music-metadata';

/** Duration in seconds read from MP3 bytes; undefined when they cannot be parsed. */
export async function readMp3Duration(audio: Uint8Array): Promise<number | undefined> {
  try {
    const { format } = await parseBuffer(audio, { mimeType: 'audio/mpeg', size: audio.length }, { duration: true });
    return format.duration !== undefined && Number.isFinite(format.duration) ? format.duration : undefined;
  } catch {
    return undefined;
  }
}
