import { AppError } from '../errors.ts';

interface Waiter {
  grant: () => void;
  /** Order of arrival, to break ties between tenants (the longest waiting first). */
  arrival: number;
}

/**
 * At most `max` syntheses at once in this instance (Azure limits concurrent requests per
 * Speech resource), shared fairly among tenants. Beyond that a request waits up to `maxWaitMs`
 * for a slot, then gets a 503 with Retry-After rather than hanging or piling onto a throttled
 * service.
 *
 * Fairness: a freed slot goes to the waiting tenant that holds the FEWEST slots (the longest
 * waiting among equals), and a tenant's own requests are served in order. So while others
 * wait, a tenant that holds more than its share gets no new slot: a burst of 200 misses from
 * one tenant queues behind itself, and another tenant's single audition takes the next slot
 * that frees. A tenant alone may still use every slot. Running syntheses are never cut short:
 * they are seconds long, so shares even out as they finish.
 */
export class SynthesisSlots {
  #active = 0;
  /** Slots held, per tenant (only tenants holding one). */
  readonly #held = new Map<string, number>();
  /** Requests waiting, per tenant, in arrival order (only tenants with one). */
  readonly #waiting = new Map<string, Waiter[]>();
  #arrivals = 0;

  constructor(
    private readonly max: number,
    private readonly maxWaitMs: number,
  ) {}

  /** Resolves with the function that gives the slot back. */
  async acquire(tenantId: string): Promise<() => void> {
    if (this.#active < this.max) {
      this.#take(tenantId);
      return this.#releaser(tenantId);
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        arrival: this.#arrivals++,
      };
      const timer = setTimeout(() => {
        this.#leaveQueue(tenantId, waiter);
        reject(
          new AppError('tts-busy', 'Too many auditions are being synthesized right now; try again shortly', {
            retryAfterSeconds: 2,
          }),
        );
      }, this.maxWaitMs);
      const queue = this.#waiting.get(tenantId);
      if (queue) queue.push(waiter);
      else this.#waiting.set(tenantId, [waiter]);
    });
    return this.#releaser(tenantId); // the slot was handed over by a releaser below
  }

  /** Slots each tenant holds now (for tests and diagnostics). */
  heldBy(tenantId: string): number {
    return this.#held.get(tenantId) ?? 0;
  }

  #take(tenantId: string): void {
    this.#active++;
    this.#held.set(tenantId, (this.#held.get(tenantId) ?? 0) + 1);
  }

  #giveBack(tenantId: string): void {
    this.#active--;
    const held = (this.#held.get(tenantId) ?? 1) - 1;
    if (held === 0) this.#held.delete(tenantId);
    else this.#held.set(tenantId, held);
  }

  #leaveQueue(tenantId: string, waiter: Waiter): void {
    const queue = this.#waiting.get(tenantId);
    if (!queue) return;
    const at = queue.indexOf(waiter);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) this.#waiting.delete(tenantId);
  }

  /** The waiting tenant holding the fewest slots; among equals, the one waiting longest. */
  #nextTenant(): string | undefined {
    let best: { tenantId: string; held: number; arrival: number } | undefined;
    for (const [tenantId, queue] of this.#waiting) {
      const held = this.heldBy(tenantId);
      const arrival = queue[0]!.arrival;
      if (!best || held < best.held || (held === best.held && arrival < best.arrival))
        best = { tenantId, held, arrival };
    }
    return best?.tenantId;
  }

  #releaser(tenantId: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#giveBack(tenantId);
      const next = this.#nextTenant();
      if (next === undefined) return;
      const waiter = this.#waiting.get(next)!.shift()!;
      if (this.#waiting.get(next)!.length === 0) this.#waiting.delete(next);
      this.#take(next);
      waiter.grant();
    };
  }
}
