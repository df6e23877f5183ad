import type http from 'node:http';
import { AppError } from '../../src/errors.ts';

/**
 * What a Host header may hold (RFC 9112 §3.2, RFC 3986 §3.2.2): an ASCII name or address, or
 * a bracketed IP literal, and an optional port. No `@` (credentials), `/`, `?`, `#` or space,
 * which WHATWG's URL parser would otherwise read as more than a host.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d*)?$/;

/** `scheme:` at the start: a request target in absolute form (what a client sends to a proxy). */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:/;

export type RequestTarget = { kind: 'url'; url: URL } | { kind: 'asterisk' };

/**
 * The URL a request names, as a server must read it (RFC 9112 §3.2): its Host header (exactly
 * one, required from HTTP/1.1 on), then the request target in origin form (`/path?query`),
 * absolute form (`http://host/path`, whose authority wins over Host) or asterisk form
 * (`OPTIONS *`). Anything else is a 400 naming what is wrong, before any function runs.
 */
export function readRequestTarget(
  req: Pick<http.IncomingMessage, 'url' | 'method' | 'rawHeaders' | 'httpVersionMajor' | 'httpVersionMinor'>,
): RequestTarget {
  const hosts: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts.push(req.rawHeaders[i + 1]!);
  }
  if (hosts.length > 1) throw badRequest('Host', 'is sent more than once');
  const http11 = req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);
  if (hosts.length === 0 && http11) throw badRequest('Host', 'is required (HTTP/1.1)');
  const host = hosts[0] ?? 'localhost'; // HTTP/1.0 may leave it out
  if (host.includes('@')) throw badRequest('Host', 'must not carry credentials (user:password@)');
  if (!HOST.test(host) || !URL.canParse(`http://${host}`))
    throw badRequest('Host', 'is not a host name or address with an optional port');

  const target = req.url ?? '/';
  if (target === '*') {
    if (req.method !== 'OPTIONS') throw badRequest('(request target)', '* is for OPTIONS only');
    return { kind: 'asterisk' };
  }
  if (target.startsWith('/')) {
    // Appended, not resolved against the host: `//x/y` is a path, not another authority.
    const url = parseUrl(`http://${host}${target}`);
    if (!url) throw badRequest('(request target)', 'is not a valid path');
    return { kind: 'url', url };
  }
  if (ABSOLUTE_FORM.test(target)) {
    const url = parseUrl(target);
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw badRequest('(request target)', 'is not an http or https URL');
    // A user name or password in a request URL is an error (RFC 9110 §4.2.4); fetch's Request refuses it too.
    if (url.username || url.password)
      throw badRequest('(request target)', 'must not carry credentials (user:password@)');
    return { kind: 'url', url };
  }
  throw badRequest('(request target)', 'must be a path starting with /, an http(s) URL, or * (OPTIONS)');
}

/**
 * A route parameter as the function receives it: percent-decoded. An escape that is not `%`
 * and two hex digits, or bytes that are not UTF-8 (`%C0%AF`, a cut-off `%E0%A4%A`), cannot
 * name anything: 400 naming the parameter, not a 404 for an id that was never readable.
 */
export function decodeRouteParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(name, 'is not valid percent-encoded UTF-8');
  }
}

/** URL.parse, which Node 20 lacks. */
function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function badRequest(field: string, message: string): AppError {
  return new AppError('invalid-request', `Invalid request: ${field} ${message}`, { errors: [{ field, message }] });
}
