import type { Logger } from '../logger.ts';

/** What one request's log line says: never text, tokens, keys or audio. */
export interface RequestLogFields {
  function: string;
  status: number;
  /** X-Cache-Status of an audition (HIT-L2, MISS, BYPASS); absent elsewhere. */
  cache?: string;
  /** Which tier answered (Server-Timing's tier). */
  tier?: string;
  ms: number;
  tenant?: string;
  /** The first 12 hex characters of the cache key: enough to correlate, not to guess a line. */
  key?: string;
  bytes?: number;
  /** A problem's code (`tts-timeout`, `unauthorized`, …) when the status is an error. */
  error?: string;
  /** Anything else worth a column: counts of a purge or a prewarm. */
  [extra: string]: string | number | undefined;
}

/**
 * One JSON line per request, in `traces` in Application Insights:
 * `traces | where message startswith '{"event":"request"' | extend r = parse_json(message)`.
 */
export function logRequest(log: Logger, fields: RequestLogFields): void {
  const { function: name, status, error, cache, tier, ms, tenant, ...extra } = fields;
  // The same columns in the same order on every function's line; one left undefined is left out.
  const line = { event: 'request', function: name, status, error, cache, tier, ms: Math.round(ms), tenant, ...extra };
  log.info(JSON.stringify(line));
}
