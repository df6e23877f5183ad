import { systemClock, type Clock } from '../clock.ts';
import type { LeaseGrant, Leases } from '../ports/leases.ts';

/**
 * A lease this instance holds, kept alive while it works: renewed every third of its time to
 * live, so it outlives its holder by at most that time. A renewal that finds the lease taken over
 * (the holder froze past its expiry) marks it lost and stops; one that fails (the database did not
 * answer) is tried again at the next beat, and the lease expires if none gets through. What the
 * holder writes under it is fenced by `grant` in the database, so losing it is safe: the holder
 * learns of it from `prove()` or from the fenced write.
 */
export class HeldLease {
  readonly grant: LeaseGrant;
  readonly #leases: Leases;
  readonly #ttlMs: number;
  readonly #beat: NodeJS.Timeout;
  readonly #now: Clock;
  /** When the database last confirmed it (taken or renewed), read before the statement was sent. */
  #confirmedAt: number;
  #state: 'held' | 'lost' | 'released' = 'held';

  /** The lease on `name` for this instance, kept alive until released; undefined when another instance holds it. */
  static async take(
    leases: Leases,
    name: string,
    ttlMs: number,
    now: Clock = systemClock,
  ): Promise<HeldLease | undefined> {
    const asked = now().getTime();
    const grant = await leases.take(name, ttlMs);
    return grant ? new HeldLease(leases, grant, ttlMs, now, asked) : undefined;
  }

  private constructor(leases: Leases, grant: LeaseGrant, ttlMs: number, now: Clock, confirmedAt: number) {
    this.#leases = leases;
    this.grant = grant;
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#confirmedAt = confirmedAt;
    // unref: a lease kept alive never keeps the process alive.
    this.#beat = setInterval(() => void this.#renew(), Math.max(1, Math.floor(ttlMs / 3))).unref();
  }

  /** Known lost: a renewal found it taken over. */
  get lost(): boolean {
    return this.#state === 'lost';
  }

  /**
   * Whether it is still ours (before work that is paid for or written): false once lost or released, or when the
   * database cannot say. Confirmed by the database less than a third of its time to live ago (when the next beat is
   * due), it is ours without asking: nobody can take it over before it expires, a whole time to live after that
   * confirmation. Older, it is proven by renewing it now. What is written under it is fenced in the database anyway;
   * this only spares work for a holder that lost it. Never throws.
   */
  prove(): Promise<boolean> {
    const age = this.#now().getTime() - this.#confirmedAt;
    // A negative age is a clock stepped back: not a proof.
    if (this.#state === 'held' && age >= 0 && age < this.#ttlMs / 3) {
      return Promise.resolve(true);
    }
    return this.#renew();
  }

  /** Lets go of it (safe to call more than once); a lost lease frees nothing. Never throws. */
  async release(): Promise<void> {
    if (this.#state === 'released') return;
    const wasHeld = this.#state === 'held';
    this.#state = 'released';
    clearInterval(this.#beat);
    if (wasHeld) await this.#leases.release(this.grant).catch(() => {}); // it expires on its own
  }

  async #renew(): Promise<boolean> {
    if (this.#state !== 'held') return false;
    const asked = this.#now().getTime();
    let renewed: boolean;
    try {
      renewed = await this.#leases.renew(this.grant, this.#ttlMs);
    } catch {
      return false;
    }
    if (renewed) this.#confirmedAt = asked;
    if (!renewed && this.#state === 'held') {
      this.#state = 'lost';
      clearInterval(this.#beat);
    }
    return renewed && this.#state === 'held';
  }
}

/** The lease name of a line (a cache key is a sha256 hex digest): held by the instance filling its miss. */
export function lineLeaseName(cacheKey: string): string {
  return `audition:${cacheKey}`;
}
