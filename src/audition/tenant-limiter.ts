/**
 * At most `limit` of one tenant's tasks at once in this instance, whatever request they come
 * from; the rest wait their turn, in order. Other tenants are not affected.
 */
export class TenantLimiter {
  readonly #running = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {}

  async run<T>(tenantId: string, task: () => Promise<T>): Promise<T> {
    const running = this.#running.get(tenantId) ?? 0;
    if (running < this.limit) {
      this.#running.set(tenantId, running + 1);
    } else {
      // Our turn comes with the running count handed over unchanged by #leave.
      await new Promise<void>((resolve) => {
        const queue = this.#waiting.get(tenantId);
        if (queue) queue.push(resolve);
        else this.#waiting.set(tenantId, [resolve]);
      });
    }
    try {
      return await task();
    } finally {
      this.#leave(tenantId);
    }
  }

  #leave(tenantId: string): void {
    const queue = this.#waiting.get(tenantId);
    const next = queue?.shift();
    if (queue?.length === 0) this.#waiting.delete(tenantId);
    if (next) return next();
    const running = (this.#running.get(tenantId) ?? 1) - 1;
    if (running === 0) this.#running.delete(tenantId);
    else this.#running.set(tenantId, running);
  }
}
