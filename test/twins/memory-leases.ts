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
      if (held && held.expiresAtMs > now) return undefined;
      const lease = { token: randomUUID(), generation: (held?.generation ?? 0) + 1, expiresAtMs: now + ttlMs };
      this.database.leases.set(name, lease);
      return { name, token: lease.token, generation: lease.generation };
    });
  }

  renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    return this.database.run(() => {
      const held = this.database.leases.get(grant.name);
      if (held?.token !== grant.token) return false;
      held.expiresAtMs = this.database.leaseClock() + ttlMs;
      return true;
    });
  }

  release(grant: LeaseGrant): Promise<void> {
    return this.database.run(() => {
      if (this.database.holdsLease(grant)) this.database.leases.delete(grant.name);
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
