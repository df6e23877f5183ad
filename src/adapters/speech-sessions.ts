/**
 * Speech connections kept between syntheses, by credentials: one opened ahead of a likely synthesis (`prepare`), and
 * one whose synthesis ended well (`park`), so that the next synthesis with the same key starts on an open websocket
 * instead of paying its handshake (on Azure, a TLS connection to the region) and the SDK's connection set-up.
 *
 * - `reserve` claims an idle one for a synthesis about to come, or answers that none is free (the caller opens one
 *   and `add`s it reserved); `take` hands over a reserved one first, else any idle one.
 * - Bounded: at most `perCredentials` kept for one key and `total` in all; past a bound, a session is closed instead
 *   of kept (and the synthesizer opens no connection ahead). Every tenant may fill the 32 with its own keys' ones: it
 *   only means the next key's synthesis opens its own connection, as it would without this pool.
 * - Each idle session is closed after `idleMs` unused (the service drops idle connections anyway), and none is handed
 *   over or kept once `maxAgeMs` old, however often it is used: a key revoked or rotated meanwhile is asked for again
 *   at the next connection, so an open websocket keeps it working for at most that long. One whose connection the
 *   service ended while it waited is closed too when next looked for, so that the synthesis it was for gets a new
 *   connection opened ahead rather than one the SDK reopens on its path.
 *
 * A session is keyed by the whole credentials (key and region): a connection only ever serves the key it was opened
 * with, so what one key's connection does is billed to that key alone.
 */
export class SpeechSessions<S> {
  readonly #idle = new Map<string, Idle<S>[]>();
  #count = 0;
  /** After closeAll: every session handed in is closed at once. */
  #closed = false;

  constructor(
    private readonly options: {
      idleMs: number;
      perCredentials: number;
      total: number;
      maxAgeMs: number;
      /** When a session's connection was opened, on `now`'s clock. */
      openedAt: (session: S) => number;
      /** False for a session whose connection the service ended while it was idle: closed, not handed over. */
      usable: (session: S) => boolean;
      now: () => number;
      close: (session: S) => void;
    },
  ) {}

  /** Claims a free idle session for a synthesis about to come; false when there is none (open one and `add` it). */
  reserve(id: string): boolean {
    this.#closeStale(id);
    const free = this.#idle.get(id)?.find((idle) => !idle.reserved);
    if (!free) return false;
    free.reserved = true;
    this.#restartTimer(id, free);
    return true;
  }

  /** A session just opened for a synthesis about to come, kept reserved until it is taken (or unused for idleMs). */
  add(id: string, session: S): void {
    if (this.#closed) return this.options.close(session);
    this.#keep(id, session, true);
  }

  /** The session for a synthesis now: a reserved one first, else a free one; undefined when none is idle. */
  take(id: string): S | undefined {
    this.#closeStale(id, true);
    const list = this.#idle.get(id);
    if (!list) return undefined;
    const index = Math.max(
      list.findIndex((idle) => idle.reserved),
      0,
    );
    const [idle] = list.splice(index, 1);
    if (list.length === 0) this.#idle.delete(id);
    if (!idle) return undefined;
    this.#count--;
    clearTimeout(idle.timer);
    return idle.session;
  }

  /** A session whose synthesis ended well: kept for the next with the same key, or closed past a bound. */
  park(id: string, session: S): void {
    this.#closeStale(id);
    if (
      this.#closed ||
      this.#stale(session) ||
      (this.#idle.get(id)?.length ?? 0) >= this.options.perCredentials ||
      this.full
    ) {
      this.options.close(session);
      return;
    }
    this.#keep(id, session, false);
  }

  /** Whether one more session may be opened ahead (the total bound). */
  get full(): boolean {
    return this.#count >= this.options.total;
  }

  /** How many sessions are idle (for tests and the bench). */
  get size(): number {
    return this.#count;
  }

  closeAll(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) {
      for (const idle of list) {
        clearTimeout(idle.timer);
        this.options.close(idle.session);
      }
    }
    this.#idle.clear();
    this.#count = 0;
  }

  /** Past its maximum age, or its connection ended by the service. */
  #stale(session: S): boolean {
    return this.#aged(session) || !this.options.usable(session);
  }

  #aged(session: S): boolean {
    return this.options.now() - this.options.openedAt(session) >= this.options.maxAgeMs;
  }

  /**
   * Closes the credentials' idle sessions that are stale; with `forTake`, one reserved for the synthesis now is closed
   * only if its connection ended (one reserved a moment ago is used even if it came of age since: it is ready).
   */
  #closeStale(id: string, forTake = false): void {
    const stale = (idle: Idle<S>) =>
      forTake && idle.reserved ? !this.options.usable(idle.session) : this.#stale(idle.session);
    for (const idle of this.#idle.get(id)?.filter(stale) ?? []) this.#drop(id, idle);
  }

  #drop(id: string, idle: Idle<S>): void {
    const list = this.#idle.get(id) ?? [];
    const index = list.indexOf(idle);
    if (index < 0) return;
    list.splice(index, 1);
    if (list.length === 0) this.#idle.delete(id);
    this.#count--;
    clearTimeout(idle.timer);
    this.options.close(idle.session);
  }

  #keep(id: string, session: S, reserved: boolean): void {
    const idle: Idle<S> = { session, reserved, timer: undefined };
    const list = this.#idle.get(id) ?? [];
    list.push(idle);
    this.#idle.set(id, list);
    this.#count++;
    this.#restartTimer(id, idle);
  }

  #restartTimer(id: string, idle: Idle<S>): void {
    clearTimeout(idle.timer);
    idle.timer = setTimeout(() => this.#drop(id, idle), this.options.idleMs).unref();
  }
}

interface Idle<S> {
  session: S;
  reserved: boolean;
  timer: NodeJS.Timeout | undefined;
}
