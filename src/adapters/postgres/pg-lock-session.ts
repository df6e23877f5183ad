import pg from 'pg';
import { describeError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { StallGuard } from '../stall-guard.ts';
import {
  advisoryUnlock,
  advisoryUnlocks,
  openLockConnection,
  tryAdvisoryLock,
  tryAdvisoryLocks,
} from './advisory-lock-sql.ts';
import { ConnectRetry, isConnectionLost, isDatabaseDeadline } from './connect-retry.ts';
import type { Connection, Entry, SessionLock } from './session-lock.ts';

export type { SessionLock } from './session-lock.ts';

/**
 * Every Postgres advisory lock of this instance (the miss locks, the cleanup's lock) held as a
 * session-level lock on ONE connection: a thousand misses in flight cost one connection, not
 * one each, and that connection counts in DATABASE_POOL_MAX.
 *
 * - One holder per name inside this instance too: session locks are re-entrant in Postgres, so
 *   the names held here are kept, and a second tryLock of one is refused.
 * - If the connection dies (server restart, failover, a terminated backend), Postgres releases
 *   every lock it held; a crashed instance therefore never blocks a key. A live instance takes
 *   its locks back at once, on a new connection, before that connection runs anything else.
 *   One another instance took in between is lost: its holder's stillHeld() says so, and the
 *   loss is logged. Nothing here is believed on the strength of a socket event arriving in
 *   time: a grant read after its connection was known dead is not a lock, and stillHeld()
 *   proves a lock with a statement its connection must answer.
 * - Every statement has a timeout: a hung connection makes tryLock fail (the caller fails open)
 *   instead of waiting forever.
 */
export class PgLockSession {
  readonly #databaseUrl: string;
  readonly #queryTimeoutMs: number;
  readonly #connectRetry: ConnectRetry;
  readonly #log: Pick<Logger, 'warn'>;
  readonly #stall: StallGuard;
  #client: Promise<Connection> | undefined;
  /** Bumped whenever the connection is replaced: locks of an older one are gone already. */
  #generation = 0;
  /** Names held (or being taken, or lost and not yet released) in this instance. */
  readonly #entries = new Map<string, Entry>();
  #closed = false;
  /** The last statement sent: one connection runs one statement at a time, so each waits for the one before. */
  #tail: Promise<unknown> = Promise.resolve();
  /** A proof (see stillHeld) queued and not sent yet: every stillHeld asked meanwhile shares it. */
  #nextProof: Promise<number> | undefined;

  /**
   * `queryTimeoutMs` (DATABASE_TIMEOUT_SECONDS) bounds each statement and each connection
   * opened; `stallGuard` is the database's, shared with the query pool: a database that stopped
   * answering either is not waited for by the other.
   */
  constructor(
    databaseUrl: string,
    options: {
      queryTimeoutMs?: number;
      connectRetry?: ConnectRetry;
      log?: Pick<Logger, 'warn'>;
      stallGuard?: StallGuard;
    } = {},
  ) {
    this.#databaseUrl = databaseUrl;
    this.#queryTimeoutMs = options.queryTimeoutMs ?? 5_000;
    this.#connectRetry = options.connectRetry ?? new ConnectRetry();
    this.#log = options.log ?? console;
    this.#stall = options.stallGuard ?? new StallGuard('the database');
  }

  /** The lock named `name` if nobody (here or in any instance) holds it; else undefined. */
  async tryLock(name: string): Promise<SessionLock | undefined> {
    if (this.#closed) throw new Error('The lock session is closed');
    if (this.#entries.has(name)) return undefined;
    const entry: Entry = { name, state: 'taking', generation: -1 };
    this.#entries.set(name, entry); // before any await: a concurrent tryLock here is refused
    try {
      for (let attempt = 1; ; attempt++) {
        let grantedOn: number | undefined;
        try {
          grantedOn = await this.#run(async ({ client, generation }) =>
            (await tryAdvisoryLock(client, name)) ? generation : undefined,
          );
        } catch (error) {
          // A connection that died under the statement (a restart) took any lock with it: once
          // more, on a new connection (which waits out the restart, within ConnectRetry's bound).
          if (attempt < 3 && isConnectionLost(error)) continue;
          throw error;
        }
        if (grantedOn === undefined) {
          this.#entries.delete(name);
          return undefined;
        }
        // node-postgres handles every message of one read before any promise continues: a grant
        // read together with the end of its session (FATAL 57P01, the socket's end) gets here
        // after the 'error' handler dropped that connection, and the lock went with it. Not a
        // lock: taken again on the new connection, as if the statement had failed.
        if (grantedOn === this.#generation) {
          entry.state = 'held';
          entry.generation = grantedOn;
          return this.#handle(entry);
        }
        if (attempt === 3) throw new Error('The lock connection ended as the lock was granted, three times over');
      }
    } catch (error) {
      this.#entries.delete(name);
      throw error;
    }
  }

  /** Releases every lock held here and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await Promise.all(
      [...this.#entries.values()].filter((entry) => entry.state !== 'taking').map((entry) => this.#release(entry)),
    );
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#generation++;
    await client?.then(({ client: c }) => c.end()).catch(() => {});
  }

  #handle(entry: Entry): SessionLock {
    return { stillHeld: () => this.#stillHeld(entry), release: () => this.#release(entry) };
  }

  async #stillHeld(entry: Entry): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (entry.state !== 'held') return false;
      let answeredOn: number;
      try {
        answeredOn = await this.#prove();
      } catch {
        // Its connection failed under the proof and was dropped: the next proof waits for a new
        // one, which takes the lock back first (or finds it taken).
        continue;
      }
      // As with a grant (tryLock): an answer read together with its connection's end proves nothing.
      if (entry.state === 'held' && entry.generation === answeredOn && answeredOn === this.#generation) return true;
    }
    return false;
  }

  /**
   * The generation of the connection that answered a statement sent after this call. The
   * session's own locks are released only by release(), so while that connection lives, every
   * lock it took is held: its answer proves them all, and one statement serves every caller
   * that asked before it was sent.
   */
  #prove(): Promise<number> {
    if (this.#nextProof) return this.#nextProof;
    const proof = this.#run(async ({ client, generation }) => {
      if (this.#nextProof === proof) this.#nextProof = undefined; // sent now: later callers need the next one
      await client.query('SELECT 1');
      return generation;
    });
    this.#nextProof = proof;
    const forget = () => {
      if (this.#nextProof === proof) this.#nextProof = undefined;
    };
    void proof.then(forget, forget);
    return proof;
  }

  async #release(entry: Entry): Promise<void> {
    if (entry.state === 'released') return;
    const held = entry.state === 'held';
    entry.state = 'released';
    if (this.#entries.get(entry.name) === entry) this.#entries.delete(entry.name);
    // A lost lock is another instance's now: nothing of ours to let go of.
    if (!held) return;
    await this.#run(async ({ client, generation }) => {
      // Its connection ended since, and it was not taken back: it went with that session.
      if (entry.generation !== generation) return;
      await advisoryUnlock(client, entry.name);
    }).catch(() => {}); // a failed unlock dropped the connection (#run): the server lets go of the lock with it
  }

  /**
   * Runs `statement` on the current connection once every statement sent before it is
   * answered (node-postgres's own queueing is deprecated). Whatever fails, the connection is
   * dropped: the next statement starts on a fresh one.
   */
  #run<T>(statement: (connection: Connection) => Promise<T>): Promise<T> {
    const result = this.#tail.then(async () => {
      // Refused at once while the database is known to hang: nothing sent, nothing dropped.
      this.#stall.admit();
      const connection = await this.#connection().catch((error: unknown) => {
        if (isDatabaseDeadline(error)) this.#stall.timedOut();
        throw error;
      });
      try {
        const answer = await statement(connection);
        this.#stall.answered();
        return answer;
      } catch (error) {
        if (isDatabaseDeadline(error)) this.#stall.timedOut();
        else if (error instanceof pg.DatabaseError) this.#stall.answered();
        this.#drop(connection.generation);
        throw error;
      }
    });
    this.#tail = result.catch(() => {});
    return result;
  }

  #connection(): Promise<Connection> {
    if (this.#closed) return Promise.reject(new Error('The lock session is closed'));
    if (!this.#client) {
      const generation = this.#generation;
      const opening = this.#connectRetry
        .connect(() => this.#open(generation))
        .then((client) => this.#takeBack(client, generation));
      this.#client = opening;
      opening.catch((error: unknown) => {
        // No new connection (an outage longer than ConnectRetry waits), or it died taking the
        // locks back: they cannot be proven, so their holders stop believing them.
        const lost = this.#heldEntries();
        for (const entry of lost) entry.state = 'lost';
        if (lost.length > 0)
          this.#log.warn(
            `lock session: could not reconnect to take back ${lost.length} lock(s), now lost: ${describeError(error)}`,
          );
        this.#drop(generation);
      });
    }
    return this.#client;
  }

  #open(generation: number): Promise<pg.Client> {
    return openLockConnection(this.#databaseUrl, this.#queryTimeoutMs, () => this.#drop(generation));
  }

  /**
   * On a new connection, before it runs anything else: takes back, in one statement, every
   * lock held on the connection it replaces (the server released them when that session
   * ended). One that another instance took in between is marked lost; one released meanwhile
   * is let go of again.
   */
  async #takeBack(client: pg.Client, generation: number): Promise<Connection> {
    const names = this.#heldEntries().map((entry) => entry.name);
    if (names.length === 0) return { client, generation };
    try {
      const granted = await tryAdvisoryLocks(client, names);
      const unwanted: string[] = [];
      let lost = 0;
      for (const name of names) {
        const entry = this.#entries.get(name);
        const wanted = entry?.state === 'held';
        if (granted.has(name)) {
          if (wanted) entry.generation = generation;
          else unwanted.push(name);
        } else if (wanted) {
          entry.state = 'lost';
          lost++;
        }
      }
      if (unwanted.length > 0) await advisoryUnlocks(client, unwanted);
      if (lost > 0)
        this.#log.warn(
          `lock session: the lock connection ended; took back ${names.length - lost} lock(s), ` +
            `${lost} taken meanwhile by another instance, now lost`,
        );
    } catch (error) {
      void client.end().catch(() => {});
      throw error;
    }
    return { client, generation };
  }

  /** Locks believed held: on the current connection, or on one that ended and is being replaced. */
  #heldEntries(): Entry[] {
    return [...this.#entries.values()].filter((entry) => entry.state === 'held');
  }

  /**
   * Forgets the connection of `generation` (if it is still the current one): the next
   * statement opens a new one. If it held locks, the new one is opened now, to take them back
   * before another instance can.
   */
  #drop(generation: number): void {
    if (generation !== this.#generation) return;
    const client = this.#client;
    this.#client = undefined;
    this.#generation++;
    void client?.then(({ client: c }) => c.end()).catch(() => {});
    if (!this.#closed && this.#heldEntries().length > 0) void this.#connection().catch(() => {});
  }
}
