import type { Synthesis } from '../../src/ports/synthesizer.ts';

export interface Piece {
  bytes: Buffer;
  /** performance.now() when it was read. */
  at: number;
}

/** Reads a synthesis's audio to its end, or to its error: the pieces that came, each with when. */
export async function piecesOf(synthesis: Pick<Synthesis, 'audio'>): Promise<Piece[]> {
  const pieces: Piece[] = [];
  const reader = synthesis.audio.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return pieces;
      pieces.push({ bytes: Buffer.from(value), at: performance.now() });
    }
  } catch {
    return pieces; // the synthesis failed midway: what came before it did
  }
}
