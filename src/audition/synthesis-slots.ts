import { AppError } from '../errors.ts';

/** Interactive: someone is waiting for the audio. Background: a predictive prewarm, which never delays one. */
export type SlotPriority = 'interactive' | 'background';

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
 *
 * Background syntheses (predictive prewarm) come after every interactive one: a background request takes a slot only
 * when no interactive request waits, at most half the slots are background ones, and one slot is always left free for
 * an interactive request (when there are two or more). So an interactive miss arriving during a background burst finds
 * a free slot at once, as it would without the burst; a freed slot goes to a waiting interactive request first.
 */
export class SynthesisSlots {
  #active = 0;
  /** Slots held, per tenant (only tenants holding one). */
  readonly #held = new Map<string, number>();
  /** Requests waiting, per tenant, in arrival order (only tenants with one). */
  readonly #waiting = new Map<string, Waiter[]>();
  #arrivals = 0;
  /** Background slots held, and background requests waiting (first come, first served). */
  #backgroundActive = 0;
  readonly #backgroundWaiting: (Waiter & { tenantId: string })[] = [];
  readonly #backgroundMax: number;
  /** Slots a background request leaves free for interactive ones. */
  readonly #interactiveReserve: number;

  constructor(
    private readonly max: number,
    private readonly maxWaitMs: number,
  ) {
    this.#backgroundMax = Math.max(1, Math.floor(max / 2));
    this.#interactiveReserve = max > 1 ? 1 : 0;
  }

  /** Resolves with the function that gives the slot back. */
  async acquire(tenantId: string, priority: SlotPriority = 'interactive'): Promise<() => void> {
    if (priority === 'background') return this.#acquireBackground(tenantId);
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

  async #acquireBackground(tenantId: string): Promise<() => void> {
    if (this.#backgroundMayStart()) {
      this.#take(tenantId, 'background');
      return this.#releaser(tenantId, 'background');
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        tenantId,
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        arrival: this.#arrivals++,
      };
      const timer = setTimeout(() => {
        this.#backgroundWaiting.splice(this.#backgroundWaiting.indexOf(waiter), 1);
        reject(new AppError('tts-busy', 'No synthesis slot was free for background work', { retryAfterSeconds: 2 }));
      }, this.maxWaitMs);
      this.#backgroundWaiting.push(waiter);
    });
    return this.#releaser(tenantId, 'background');
  }

  /** No interactive request waits, and a background one would leave the interactive reserve free. */
  #backgroundMayStart(): boolean {
    return (
      this.#waiting.size === 0 &&
      this.#backgroundActive < this.#backgroundMax &&
      this.#active < this.max - this.#interactiveReserve
    );
  }

  /** Background slots held now (for tests and diagnostics). */
  get backgroundHeld(): number {
    return this.#backgroundActive;
  }

  /** Slots each tenant holds now (for tests and diagnostics). */
  heldBy(tenantId: string): number {
    return this.#held.get(tenantId) ?? 0;
  }

  #take(tenantId: string, priority: SlotPriority = 'interactive'): void {
    this.#active++;
    if (priority === 'background') this.#backgroundActive++;
    this.#held.set(tenantId, (this.#held.get(tenantId) ?? 0) + 1);
  }

  #giveBack(tenantId: string, priority: SlotPriority): void {
    this.#active--;
    if (priority === 'background') this.#backgroundActive--;
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

  #releaser(tenantId: string, priority: SlotPriority = 'interactive'): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#giveBack(tenantId, priority);
      const next = this.#nextTenant();
      if (next === undefined) return this.#grantBackground();
      const waiter = this.#waiting.get(next)!.shift()!;
      if (this.#waiting.get(next)!.length === 0) this.#waiting.delete(next);
      this.#take(next);
      waiter.grant();
    };
  }

  /** A freed slot no interactive request waits for: to the first background request, if the reserve allows. */
  #grantBackground(): void {
    if (this.#backgroundWaiting.length === 0 || !this.#backgroundMayStart()) return;
    const waiter = this.#backgroundWaiting.shift()!;
    this.#take(waiter.tenantId, 'background');
    waiter.grant();
  }
}
