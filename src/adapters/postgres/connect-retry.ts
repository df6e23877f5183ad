import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { StallGuard } from '../stall-guard.ts';

/** How long, from the first refused connection of an outage, new connections are retried. */
const CONNECT_RETRY_WINDOW_MS = 3_000;
const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 400;

/**
 * Whether a failed connection attempt is worth another: the server is restarting or failing
 * over (refused, reset, "starting up", "shutting down"), or is at its connection limit for a
 * moment. Anything else (a wrong password, an unknown database or host, TLS) fails at once.
 */
export function isTransientConnectError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections
  if (code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  // node-postgres, when the socket closes during the handshake.
  return error instanceof Error && code === undefined && error.message === 'Connection terminated unexpectedly';
}

/**
 * Whether a statement failed because its connection died under it (the server restarted, or
 * ended that session), as node-postgres reports it or as Prisma wraps that report. Such a
 * statement may be tried once more on a new connection, if running it twice is harmless.
 */
export function isConnectionLost(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = error; current && typeof current === 'object' && !seen.has(current);) {
    seen.add(current);
    const { code, kind, message, meta, cause } = current as {
      code?: unknown;
      kind?: unknown;
      message?: unknown;
      meta?: { driverAdapterError?: unknown };
      cause?: unknown;
    };
    if (code === '57P01' || code === '57P02' || code === 'ECONNRESET' || kind === 'ConnectionClosed') return true;
    // node-postgres: a statement sent on (or queued for) a connection that has died or was ended.
    if (
      typeof message === 'string' &&
      (message.includes('is not queryable') || /^Connection terminated( unexpectedly)?$/.test(message))
    )
      return true;
    current = meta?.driverAdapterError ?? cause;
  }
  return false;
}

/**
 * Runs an idempotent statement, again (at most twice more) while its connection dies under it:
 * after a restart the pool may hand out another connection the server has ended and the pool
 * has not heard of yet. A new connection waits out the restart (ConnectRetry).
 */
export async function retryIfConnectionLost<T>(statement: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      if (attempt === 3 || !isConnectionLost(error)) throw error;
    }
  }
}

/**
 * New database connections of one instance, retried through a short outage: a server restart
 * or failover cuts every connection and refuses new ones for a moment, and a request that
 * waits that moment out is served normally instead of failing (uncached, or 503).
 *
 * Bounded: connections are retried (50 ms, doubling to 400 ms) only during the first
 * CONNECT_RETRY_WINDOW_MS of an outage, counted from its first refused connection. Once that
 * has passed, every attempt fails at its first refusal, so a long outage costs each request
 * one refused connection, not a wait; the first successful connection ends the outage.
 */
export class ConnectRetry {
  readonly #windowMs: number;
  readonly #elapsed: () => number;
  /** When the current outage's first connection was refused; undefined while connections succeed. */
  #outageSince: number | undefined;

  constructor(options: { windowMs?: number; elapsed?: () => number } = {}) {
    this.#windowMs = options.windowMs ?? CONNECT_RETRY_WINDOW_MS;
    this.#elapsed = options.elapsed ?? (() => performance.now());
  }

  async connect<T>(attempt: () => Promise<T>): Promise<T> {
    let delay = FIRST_DELAY_MS;
    for (;;) {
      try {
        const connection = await attempt();
        this.#outageSince = undefined;
        return connection;
      } catch (error) {
        if (!isTransientConnectError(error)) throw error;
        const now = this.#elapsed();
        this.#outageSince ??= now;
        if (now + delay - this.#outageSince > this.#windowMs) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  }
}

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

/**
 * Whether node-postgres gave up on the database for want of an answer (not for a refusal or an
 * error answer): a statement past its `query_timeout`, or a connection not ready within
 * `connectionTimeoutMillis`. (The pool's "timeout exceeded when trying to connect" is a wait
 * for one of our own busy connections, which says nothing of the database.)
 */
function isDatabaseDeadline(error: unknown): boolean {
  const message = error instanceof Error ? error.message : undefined;
  return message === 'Query read timeout' || message === 'Connection terminated due to connection timeout';
}

/**
 * A node-postgres pool whose new connections go through a ConnectRetry, and which knows when
 * the database hangs (StallGuard): after a statement or a connection passes its deadline, the
 * next statements fail at once until a probe gets an answer. Both ways the pool is used go
 * through `connect()`: Prisma's transactions call it, and `pool.query()` calls it with a
 * callback.
 */
export class RetryingPool extends pg.Pool {
  readonly #retry: ConnectRetry;
  readonly #guard: StallGuard;

  constructor(config: pg.PoolConfig, retry: ConnectRetry, guard: StallGuard) {
    super(config);
    this.#retry = retry;
    this.#guard = guard;
    // A connection the server ends while it is checked out but between statements (a restart
    // just after it was handed over) emits 'error' with nobody listening, which would end the
    // process. The statement that next uses it fails instead, and it is then discarded.
    this.on('connect', (client) => client.on('error', ignore));
    // Every statement's outcome passes here (pool.query releases its connection with the
    // statement's error, if any).
    this.on('release', (error: Error | undefined) => {
      if (!error || error instanceof pg.DatabaseError) this.#guard.answered();
      else if (isDatabaseDeadline(error)) this.#guard.timedOut();
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (!callback) {
      return new Promise((resolve, reject) =>
        this.connect((error, client) => (error ? reject(error) : resolve(client!))),
      );
    }
    try {
      this.#guard.admit();
    } catch (error) {
      callback(error as Error, undefined, ignore);
      return;
    }
    // The client is handed over inside the pool's own callback, as the pool does (the caller
    // attaches its listeners before any other event can arrive), not a promise turn later.
    this.#retry
      .connect(
        () =>
          new Promise<void>((resolve, reject) =>
            super.connect((error, client, done) => {
              if (error) return reject(error);
              callback(undefined, client, done);
              resolve();
            }),
          ),
      )
      .catch((error: Error) => {
        if (isDatabaseDeadline(error)) this.#guard.timedOut();
        callback(error, undefined, ignore);
      });
  }
}

function ignore(): void {}
