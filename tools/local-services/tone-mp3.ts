/**
 * A real MP3 (24 kHz mono 48 kbps, the format the service asks Azure for) of a tone, encoded
 * in process, for the speech stand-in to send back.
 */
export async function encodeToneMp3(seconds = 1, frequency = 440): Promise<Buffer> {
  const { Mp3Encoder } = await import('@breezystack/lamejs');
  const sampleRate = 24_000;
  const samples = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(Math.sin((2 * Math.PI * frequency * i) / sampleRate) * 8_000);
  }
  const encoder = new Mp3Encoder(1, sampleRate, 48);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i += 1152) chunks.push(encoder.encodeBuffer(samples.subarray(i, i + 1152)));
  chunks.push(encoder.flush());
  return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
}
