/** One predictive prewarm: the default lines of the other voices of a language, for a tenant. */
export interface PredictiveRun {
  tenantId: string;
  /** The language's subtag (`es` of `es-PE`). */
  language: string;
  /** The default lines' version (a change of the lines is a new run). */
  lineVersion: string;
}

/**
 * Which predictive prewarms have run, shared by every instance: at most one per tenant, language and line version
 * within the entries' lifetime (docs/endpoints.md, "Predictive prewarm").
 */
export interface PredictiveRuns {
  /**
   * Claims the run and answers true when none was started in the `ttlMs` before `now`, or when the last one started
   * more than `staleMs` ago and never finished (its instance went away); otherwise changes nothing and answers
   * false. Atomic: of concurrent claims (from any instance) at most one answers true.
   */
  claim(run: PredictiveRun, now: Date, ttlMs: number, staleMs: number): Promise<boolean>;
  /** Marks the claimed run finished (a finished run is not taken again before `ttlMs`). */
  finish(run: PredictiveRun, now: Date): Promise<void>;
}
