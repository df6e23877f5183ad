/**
 * Leases every instance sees, through the database: who fills a line (one synthesis per line
 * across instances) and who runs the cleanup. A lease expires on its own when its holder stops
 * renewing it, whatever became of the holder (a frozen event loop, a vanished VM), and another
 * instance can then take it over. Each method is one statement, so no connection is held between
 * calls: safe through a pooler in transaction mode.
 */
export interface Leases {
  /**
   * A lease on `name` for `ttlMs` when nobody holds a live one (the name is free, or its holder
   * stopped renewing and the lease expired); undefined when somebody does.
   */
  take(name: string, ttlMs: number): Promise<LeaseGrant | undefined>;
  /** Extends a lease still ours to `ttlMs` from now; false once it is not ours (taken over, or released). */
  renew(grant: LeaseGrant, ttlMs: number): Promise<boolean>;
  /** Lets go of a lease still ours (free at once, kept as released); frees nothing another holder took since. */
  release(grant: LeaseGrant): Promise<void>;
  /**
   * Deletes leases that expired more than `graceMs` ago (their holders gone without releasing them);
   * answers how many.
   */
  deleteExpired(graceMs: number): Promise<number>;
}

/**
 * How long a lease's row is kept after it expired (a release expires it at once) before the cleanup deletes it
 * (`deleteExpired(LEASE_ROW_KEPT_MS)`): how far back `heldBefore` sees. A miss skips its second lookup when nobody held
 * its line (AuditionService), which is right as long as this is far longer than a miss's lookup-to-take.
 */
export const LEASE_ROW_KEPT_MS = 3_600_000;

/** A lease as its holder knows it. */
export interface LeaseGrant {
  readonly name: string;
  /** The holder's proof, new at every take: what renewals, the release and fenced writes check. */
  readonly token: string;
  /** 1 when taken free, one more at every takeover of an expired lease. */
  readonly generation: number;
  /**
   * Whether somebody held the name before this take, since it was last deleted (kept LEASE_ROW_KEPT_MS past expiry):
   * what they held it for may be done (a line stored). False: nobody did, so nothing was done under it meanwhile.
   */
  readonly heldBefore: boolean;
}

/** A write fenced by a lease was refused: the lease is no longer the writer's (another instance took it over). */
export class LeaseLostError extends Error {
  constructor(readonly lease: LeaseGrant) {
    super(`The lease ${lease.name} (generation ${lease.generation}) is no longer held by this writer`);
    this.name = 'LeaseLostError';
  }
}
