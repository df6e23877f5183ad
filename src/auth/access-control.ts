import { errors as joseErrors, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { lruClock, systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AccountDirectory, Caller, ProjectAccess } from '../ports/account-directory.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Tokens, users and projects remembered per instance (each well under a kilobyte). */
const CACHE_ENTRIES = 10_000;

export interface AccessControlOptions {
  /** How long a verified token, an active user and a project are trusted; 0: never. */
  cacheMs: number;
  /** The clock tokens' `exp` and the cache's lifetimes are measured against. */
  now?: Clock;
}

/**
 * Who is calling, and whether their tenant owns the project. Fails closed: an invalid token
 * is 401, someone else's project 404, and a failure to check is 503, never a pass.
 *
 * Checks that passed are remembered for a short time (AUTH_CACHE_SECONDS): a verified token
 * until then or its `exp`, whichever is first; an active user and a project's tenant and TTS
 * credentials until then. Failures are never remembered, so a fixed account works at once.
 */
export class AccessControl {
  readonly #secret: Uint8Array;
  readonly #tokens: LRUCache<string, { userId: string; expiresAtMs: number }> | undefined;
  readonly #users: LRUCache<string, Caller> | undefined;
  readonly #projects: LRUCache<string, ProjectAccess> | undefined;
  readonly #now: Clock;

  constructor(
    private readonly jwt: Config['jwt'],
    private readonly accounts: AccountDirectory,
    options: AccessControlOptions,
  ) {
    this.#secret = new TextEncoder().encode(jwt.secretKey);
    this.#now = options.now ?? systemClock;
    if (options.cacheMs > 0) {
      const cache = { max: CACHE_ENTRIES, ttl: options.cacheMs, ...lruClock(this.#now) };
      this.#tokens = new LRUCache(cache);
      this.#users = new LRUCache(cache);
      this.#projects = new LRUCache(cache);
    }
  }

  /**
   * The caller behind `Authorization: Bearer <JWT>`: an access token issued by the Khipu
   * Cloud API (signed with its JWT_SECRET_KEY, `type: "access"`, unexpired) whose `sub` is an
   * active user of an active tenant. `fresh`: the user (active? which role?) is read from the
   * database now, not remembered, as a destructive operation needs; what it reads replaces
   * what is remembered.
   */
  async authenticate(authorization: string | null, options: { fresh?: boolean } = {}): Promise<Caller> {
    const token = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? '')?.[1];
    if (!token) throw unauthorized('A Bearer access token is required');
    const userId = await this.#verify(token);

    const caller = await remembered(
      this.#users,
      userId,
      () => this.accounts.findActiveUser(userId),
      'Could not verify the caller right now; try again shortly',
      options.fresh === true,
    );
    if (!caller) throw unauthorized('The user is unknown or inactive');
    return caller;
  }

  /**
   * The project, if the caller's tenant owns it. A missing project, another tenant's and a
   * malformed id are the same 404, so ids of other tenants cannot be probed.
   */
  async authorizeProject(caller: Caller, projectId: string): Promise<ProjectAccess> {
    // Built only when thrown: an Error captures a stack trace, too costly for every request.
    const notFound = () => new AppError('not-found', 'No such project');
    if (!UUID.test(projectId)) throw notFound();
    const id = projectId.toLowerCase();
    const project = await remembered(
      this.#projects,
      id,
      () => this.accounts.findProject(id),
      'Could not check the project right now; try again shortly',
    );
    // Checked on every request, remembered or not: the cache holds facts, not decisions.
    if (!project || project.tenantId.toLowerCase() !== caller.tenantId.toLowerCase()) throw notFound();
    return project;
  }

  /** The token's user id, if the token is valid now. */
  async #verify(token: string): Promise<string> {
    const now = this.#now();
    const remembered = this.#tokens?.get(token);
    if (remembered && remembered.expiresAtMs > now.getTime()) return remembered.userId;
    try {
      const { payload } = await jwtVerify(token, this.#secret, {
        algorithms: [this.jwt.algorithm], // pinned: no `alg: none`, no algorithm confusion
        requiredClaims: ['exp', 'sub'],
        currentDate: now,
      });
      if (payload.type !== 'access') throw unauthorized('Only access tokens are accepted');
      if (typeof payload.sub !== 'string' || !UUID.test(payload.sub))
        throw unauthorized('The token has no valid subject');
      const userId = payload.sub.toLowerCase();
      this.#tokens?.set(token, { userId, expiresAtMs: payload.exp! * 1000 });
      return userId;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw unauthorized('The access token has expired');
      throw unauthorized('The access token is invalid');
    }
  }
}

/**
 * What the cache remembers of `id` (unless `fresh`), else what `lookUp` finds: remembered when
 * found, forgotten when not. A lookup that fails is 503 with Retry-After: the check fails closed.
 */
async function remembered<T extends object>(
  cache: LRUCache<string, T> | undefined,
  id: string,
  lookUp: () => Promise<T | null>,
  unavailable: string,
  fresh = false,
): Promise<T | null> {
  const known = fresh ? undefined : cache?.get(id);
  if (known) return known;
  let found: T | null;
  try {
    found = await lookUp();
  } catch (error) {
    throw new AppError('unavailable', unavailable, { retryAfterSeconds: 5, cause: error });
  }
  if (found) cache?.set(id, found);
  else cache?.delete(id);
  return found;
}

function unauthorized(message: string): AppError {
  return new AppError('unauthorized', message);
}
