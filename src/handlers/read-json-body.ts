import type { HttpRequest } from '@azure/functions';
import { AppError } from '../errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The request's JSON body: 400 unless it is declared and encoded as JSON (UTF-8) and parses;
 * 413 beyond `maxBytes` (64 KB by default: an audition is at most 5,000 characters of text).
 */
export async function readJsonBody(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  return parseJson(await readJsonText(request, maxBytes));
}

/** The JSON body's text, checked as readJsonBody checks it (declared JSON, UTF-8, not too large), not yet parsed. */
export async function readJsonText(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<string> {
  requireJsonContentType(request);
  return decodeUtf8(await readBytes(request, maxBytes));
}

/**
 * Like readJsonText, for routes whose body is optional: no body at all (zero bytes, whatever
 * the Content-Type) is `undefined`; a body that is there must be JSON.
 */
export async function readOptionalJsonText(
  request: HttpRequest,
  maxBytes = MAX_BODY_BYTES,
): Promise<string | undefined> {
  const bytes = await readBytes(request, maxBytes);
  if (bytes.length === 0) return undefined;
  requireJsonContentType(request);
  return decodeUtf8(bytes);
}

/**
 * The body's bytes, counted as they arrive: past `maxBytes` the rest is never read (the stream is cancelled) and the
 * answer is 413, whether or not a Content-Length said so (a chunked body has none). A body that breaks off is a 400.
 */
async function readBytes(request: HttpRequest, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (!request.body) return new Uint8Array(0);
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: Awaited<ReturnType<typeof reader.read>>;
    try {
      next = await reader.read();
    } catch {
      throw new AppError('invalid-request', 'The body could not be read (the request broke off)', {
        errors: [{ field: '(body)', message: 'ended before it was complete' }],
      });
    }
    if (next.done) return Buffer.concat(chunks, size);
    size += next.value.length;
    if (size > maxBytes) {
      reader.cancel().catch(() => {}); // the rest is not ours to read
      throw tooLarge(maxBytes);
    }
    chunks.push(next.value);
  }
}

function requireJsonContentType(request: HttpRequest): void {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new AppError('invalid-request', 'The body must be JSON (Content-Type: application/json)', {
      errors: [{ field: '(body)', message: `unsupported content type "${contentType.slice(0, 100)}"` }],
    });
  }
}

/** One decoder for every request (building one per request was a visible cost under load). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw invalidJson('the body is not valid UTF-8');
  }
}

/** A body's text as JSON; 400 when it is not. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidJson('the body is not valid JSON');
  }
}

function tooLarge(maxBytes: number): AppError {
  return new AppError('payload-too-large', `The body is larger than ${maxBytes / 1024} KB`);
}

function invalidJson(message: string): AppError {
  return new AppError('invalid-request', 'The body is not valid JSON', { errors: [{ field: '(body)', message }] });
}
