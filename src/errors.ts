/**
 * The failures a caller can see. Each code maps to exactly one HTTP status, in one table
 * (src/handlers/problem-response.ts); everything else thrown is an internal error.
 */
export type ErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'invalid-request'
  | 'payload-too-large'
  | 'no-tts-credentials'
  // A project's settings are there but cannot be used (a Speech region that is not a region name).
  | 'invalid-project-settings'
  | 'tts-credentials-rejected'
  | 'tts-throttled'
  | 'tts-busy'
  | 'tts-budget-exceeded'
  | 'tts-rejected-request'
  | 'tts-timeout'
  | 'tts-failed'
  | 'unavailable'
  // The local host's upstream (KHIPU_CLOUD_API_URL), for paths no function serves: never deployed code's.
  | 'upstream-unreachable'
  | 'upstream-timeout'
  | 'internal';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `voice.id` or `rate_pct`. */
  field: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.name = 'AppError';
  }
}

/** Normalises anything thrown into an AppError, once, at the edge. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  // A deployment with missing or malformed settings: not the caller's fault, and not a bug.
  if (error instanceof Error && error.name === 'ConfigError') {
    return new AppError('unavailable', 'The service is not configured', { cause: error });
  }
  return new AppError('internal', 'Internal error', { cause: error });
}

/**
 * Anything thrown, as one line for a log: the message (with the error's name when it is not a
 * plain Error), or its stack when asked. A message may quote a remote server (a storage account a
 * tenant runs, the speech service): it is escaped and bounded (loggable), so it can neither forge
 * log lines nor flood them.
 */
export function describeError(error: unknown, { stack = false }: { stack?: boolean } = {}): string {
  if (!(error instanceof Error)) return loggable(String(error));
  if (stack && error.stack) return error.stack;
  return loggable(error.name === 'Error' ? error.message : `${error.name}: ${error.message}`);
}

/** Characters a log line must not carry as they are: control characters, and line and paragraph separators. */
const UNPRINTABLE = /[\p{Cc}\u2028\u2029]/gu;
const MAX_LOGGED_CHARACTERS = 500;

/** Text from elsewhere, fit for one log line: unprintable characters escaped (`\u000a`), at most 500 characters. */
export function loggable(text: string): string {
  const escaped = text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (escaped.length <= MAX_LOGGED_CHARACTERS) return escaped;
  return `${escaped.slice(0, MAX_LOGGED_CHARACTERS)}… (${escaped.length - MAX_LOGGED_CHARACTERS} more characters)`;
}
