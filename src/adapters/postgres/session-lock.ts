import type pg from 'pg';

// A lock of PgLockSession (pg-lock-session.ts) as its holder and the session see it.

/** A lock taken through the session, as its holder sees it. */
export interface SessionLock {
  /**
   * Whether the lock is still held, proven rather than believed: true only when a statement
   * sent after this call was answered on the connection that holds the lock. A connection
   * the server ended cannot answer it, so a lock gone with its session is found out here
   * whatever order the news arrived in; a lock the session took back on a new connection
   * (see PgLockSession) is held. False once lost or released, or when no proof can be had
   * (the database cannot be reached); never throws.
   */
  stillHeld(): Promise<boolean>;
  /** Lets go of the lock; safe to call more than once, and frees nothing taken since. */
  release(): Promise<void>;
}

/** One name as this instance holds it. */
export interface Entry {
  readonly name: string;
  /** `taking`: its statement is on its way; `lost`: its session ended and another took it meanwhile. */
  state: 'taking' | 'held' | 'lost' | 'released';
  /** The connection holding it (its generation), while held. */
  generation: number;
}

export interface Connection {
  client: pg.Client;
  generation: number;
}
