/**
 * A call to a dependency (Blob Storage, the database, the speech service) that got no answer
 * within its deadline. It is handled exactly like a refused connection: the cache fails open,
 * authorization fails closed, a synthesis fails with its own status.
 */
export class DeadlineExceededError extends Error {
  constructor(
    /** `Blob Storage`, `the database`, `the speech service`. */
    readonly dependency: string,
    /** What it did not do in time: `answer a read`, `send the first audio`, … */
    readonly what: string,
    readonly ms: number,
  ) {
    super(`${dependency} did not ${what} within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * A dependency known to be hanging, not asked again until it answers: the call failed at once
 * instead of waiting out another deadline.
 */
export class DependencyStalledError extends Error {
  constructor(
    readonly dependency: string,
    readonly stalledForMs: number,
  ) {
    super(
      `${dependency} has not answered for ${Math.round(stalledForMs)} ms; ` +
        'not waiting for it again until it answers a probe',
    );
    this.name = 'DependencyStalledError';
  }
}

/**
 * `work`, or `expired()`'s error once `ms` have passed without it settling. The work itself
 * goes on: `expired` is where the caller stops it (aborts the request, destroys the socket),
 * so that the connection it holds is let go.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
