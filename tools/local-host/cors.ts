import type { LocalSettings } from './local-settings.ts';

/**
 * The browser origin the local host allows when nothing names others: khipu-web's dev server
 * (its Vite config: port 3000).
 */
export const DEFAULT_CORS_ORIGINS = ['http://localhost:3000'];

/** The environment variable `npm start` and tests may set when local.settings.json has no Host.CORS. */
export const CORS_SETTING = 'LOCAL_HOST_CORS';

/** Which browser origins may read the local host's answers, and whether with credentials. */
export interface CorsPolicy {
  /** `any`: Host.CORS is `*` alone, answered `Access-Control-Allow-Origin: *` (never with credentials). */
  origins: 'any' | ReadonlySet<string>;
  credentials: boolean;
}

/** The origins as configured, and where from (for messages): Host.CORS, LOCAL_HOST_CORS, or the default. */
export interface CorsOrigins {
  origins: string[];
  source: 'Host.CORS' | typeof CORS_SETTING | 'default';
}

/**
 * Host.CORS of local.settings.json when it names any (as Core Tools reads it), else
 * LOCAL_HOST_CORS (comma-separated), else khipu-web's dev origin.
 */
export function corsOriginsFor(settings: LocalSettings, env: NodeJS.ProcessEnv = process.env): CorsOrigins {
  if (settings.corsOrigins.length > 0) return { origins: settings.corsOrigins, source: 'Host.CORS' };
  const fromEnv = splitOrigins(env[CORS_SETTING] ?? '');
  if (fromEnv.length > 0) return { origins: fromEnv, source: CORS_SETTING };
  return { origins: DEFAULT_CORS_ORIGINS, source: 'default' };
}

export function splitOrigins(list: string): string[] {
  return list
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
}

/**
 * The policy the Functions host builds from the same settings (Core Tools: ASP.NET Core's
 * `WithOrigins(…)`, plus `AllowCredentials()` for Host.CORSCredentials): listed origins, lower-cased,
 * matched exactly; `*` alone for any origin. `*` with credentials is refused, as ASP.NET Core
 * refuses it (`func start` does not start): answering any origin with credentials would let every
 * web page read the answers. An entry that is not an origin (a path, a trailing `/`, `null`) could
 * never match what a browser sends, and `*` among other origins would silently mean none: both
 * stop the host with a message instead. Throws, naming `source`.
 */
export function parseCorsPolicy(origins: readonly string[], credentials: boolean, source = 'Host.CORS'): CorsPolicy {
  if (origins.includes('*')) {
    if (origins.length > 1)
      throw new Error(
        `${source}: "*" (any origin) must stand alone, not with ${origins.filter((o) => o !== '*').join(',')}`,
      );
    if (credentials)
      throw new Error(
        `${source} "*" with Host.CORSCredentials true: the CORS protocol does not allow any origin with credentials ` +
          `(func start refuses it too). List the origins instead, e.g. "${DEFAULT_CORS_ORIGINS[0]}".`,
      );
    return { origins: 'any', credentials: false };
  }
  const allowed = new Set<string>();
  for (const entry of origins) {
    const origin = entry.toLowerCase();
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin) {
      const hint = url && url.origin !== 'null' ? ` (did you mean "${url.origin}"?)` : '';
      throw new Error(`${source}: "${entry}" is not a browser origin: http(s)://host[:port], nothing after it${hint}`);
    }
    allowed.add(origin);
  }
  return { origins: allowed, credentials };
}

/**
 * The CORS headers of an answer to a request from `origin`: none without an Origin header or for
 * an origin the policy does not list (never the request's own Origin echoed unchecked).
 */
export function corsHeadersFor(policy: CorsPolicy, origin: string | undefined): Record<string, string> | undefined {
  if (origin === undefined) return undefined;
  if (policy.origins === 'any') return { 'Access-Control-Allow-Origin': '*' };
  if (!policy.origins.has(origin)) return undefined;
  return {
    'Access-Control-Allow-Origin': origin,
    ...(policy.credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
    Vary: 'Origin',
  };
}

/** One line for the start-up output: which origins, with or without credentials, and from where. */
export function describeCorsPolicy(policy: CorsPolicy, source: CorsOrigins['source']): string {
  const origins = policy.origins === 'any' ? '* (any origin, without credentials)' : [...policy.origins].join(', ');
  const credentials = policy.credentials ? ', with credentials (Host.CORSCredentials)' : '';
  const from =
    source === 'default'
      ? "the default, khipu-web's dev server; Host.CORS in local.settings.json names others"
      : source === 'Host.CORS'
        ? 'Host.CORS in local.settings.json'
        : source;
  return `${origins}${credentials} (${from})`;
}
