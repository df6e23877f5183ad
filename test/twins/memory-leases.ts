import { randomUUID } from 'node:crypto';
import type { LeaseGrant, Leases } from '../../src/ports/leases.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';

/**
 * An in-memory Leases: the twin of PrismaLeases, over a MemoryCacheDatabase's lease table (give several instances
 * one database to stand for several app instances on one Postgres; the index twin on it checks fenced writes there).
 */
export class MemoryLeases implements Leases {
  /** How many times take was called (refused and failed calls included). */
  takes = 0;
  /** Set to make every take throw it (the database is unreachable for this instance's leases). */
  failing: Error | undefined;

  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  take(name: string, ttlMs: number): Promise<LeaseGrant | undefined> {
    this.takes++;
    if (this.failing) return Promise.reject(this.failing);
    return this.database.run(() => {
      const now = this.database.leaseClock();
      const held = this.database.leases.get(name);
      if (held && !held.released && held.expiresAtMs > now) return undefined;
      // Free once released (a new generation 1), or taken over once expired (one more).
      const generation = held && !held.released ? held.generation + 1 : 1;
      const lease = { token: randomUUID(), generation, expiresAtMs: now + ttlMs, released: false };
      this.database.leases.set(name, lease);
      return { name, token: lease.token, generation, heldBefore: held !== undefined };
    });
  }

  renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    return this.database.run(() => {
      const held = this.database.leases.get(grant.name);
      if (held?.token !== grant.token || held.released) return false;
      held.expiresAtMs = this.database.leaseClock() + ttlMs;
      return true;
    });
  }

  release(grant: LeaseGrant): Promise<void> {
    return this.database.run(() => {
      // Kept, released, until deleteExpired: the next take learns that somebody held it.
      const held = this.database.leases.get(grant.name);
      if (held && this.database.holdsLease(grant))
        Object.assign(held, { released: true, expiresAtMs: this.database.leaseClock() });
    });
  }

  deleteExpired(graceMs: number): Promise<number> {
    return this.database.run(() => {
      const before = this.database.leaseClock() - graceMs;
      let deleted = 0;
      for (const [name, lease] of this.database.leases) {
        if (lease.expiresAtMs < before) deleted += Number(this.database.leases.delete(name));
      }
      return deleted;
    });
  }
}
