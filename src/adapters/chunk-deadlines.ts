import { Readable } from 'node:stream';
import { DeadlineExceededError, withDeadline } from '../deadline.ts';
import type { StallGuard } from './stall-guard.ts';

/**
 * A download's chunks from `first` on as a byte stream, each next one within `ms` of being
 * asked for (a reader that pauses, a slow client, is not a stalled dependency). A chunk that
 * misses its deadline fails the stream with a DeadlineExceededError and tells the `guard`;
 * `stop` (closing the download's connection) runs once the reader is done or goes away.
 */
export function withChunkDeadlines(
  first: IteratorResult<Buffer, unknown>,
  chunks: AsyncIterator<Buffer, unknown>,
  { ms, guard, dependency, stop }: { ms: number; guard: StallGuard; dependency: string; stop: () => void },
): Readable {
  async function* read(): AsyncGenerator<Buffer> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await withDeadline(chunks.next(), ms, () => {
          guard.timedOut();
          stop();
          return new DeadlineExceededError(dependency, 'send the next chunk of a blob', ms);
        });
        if (next.done) return;
        yield next.value;
      }
    } finally {
      stop(); // a reader that went away (or is done) leaves no connection behind
    }
  }
  // objectMode off: a byte stream, read on demand (the generator runs only when asked).
  return Readable.from(read(), { objectMode: false, highWaterMark: 0 });
}
