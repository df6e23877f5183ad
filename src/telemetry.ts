import { createRequire } from 'node:module';
import { metrics, type Attributes, type Counter, type Histogram } from '@opentelemetry/api';
import { describeError } from './errors.ts';

let started: { shutdown(): Promise<void> } | undefined;

/**
 * Starts the Azure Monitor OpenTelemetry distro when a connection string is set (once per
 * process); without one nothing is loaded (the distro takes ~0.7 s to load, a cold start's
 * worth) and every metric below is a no-op.
 */
export function startTelemetry(connectionString: string | undefined): void {
  if (!connectionString || started) return;
  try {
    // Loaded on demand, not imported: see above.
    const distro = createRequire(__filename)('@azure/monitor-opentelemetry') as typeof import('@azure/monitor-opentelemetry');
    distro.useAzureMonitor({
      azureMonitorExporterOptions: { connectionString },
      // Requests and dependencies come from the Functions host; the distro adds our metrics.
      instrumentationOptions: { http: { enabled: false }, azureSdk: { enabled: false }, postgreSql: { enabled: false } },
    });
    started = { shutdown: distro.shutdownAzureMonitor };
  } catch (error) {
    // Monitoring is not worth an outage: the service runs on, without metrics, and says so.
    console.warn(`Application Insights metrics are off: the Azure Monitor distro did not start: ${describeError(error)}`);
  }
}

/** Exports what is buffered and stops the distro (the app is stopping). */
export async function stopTelemetry(): Promise<void> {
  const running = started;
  started = undefined;
  await running?.shutdown();
}

/**
 * The service's metrics (customMetrics in Application Insights). Created from the global
 * meter provider at construction, so build it after startTelemetry.
 */
export class CacheMetrics {
  readonly #requests: Counter;
  readonly #bytes: Counter;
  readonly #synthesisMs: Histogram;
  readonly #synthesisFailures: Counter;

  constructor() {
    const meter = metrics.getMeter('khipu-audition-cache');
    this.#requests = meter.createCounter('audition_requests', { description: 'Audition requests by cache status (HIT-L2, MISS, BYPASS, ERROR) and tier' });
    this.#bytes = meter.createCounter('audition_bytes_served', { description: 'Audio bytes sent to callers', unit: 'By' });
    this.#synthesisMs = meter.createHistogram('tts_synthesis_duration', { description: 'Time to synthesize one audition', unit: 'ms' });
    this.#synthesisFailures = meter.createCounter('tts_synthesis_failures', { description: 'Failed syntheses by reason' });
  }

  /** One audition answered; its bytes when known (a streamed miss reports them at its end). */
  audition(attributes: AuditionLabels, bytes: number | undefined): void {
    this.#requests.add(1, labelsOf(attributes));
    if (bytes !== undefined) this.bytesServed(attributes, bytes);
  }

  bytesServed(attributes: AuditionLabels, bytes: number): void {
    this.#bytes.add(bytes, labelsOf(attributes));
  }

  synthesis(durationMs: number): void {
    this.#synthesisMs.record(durationMs);
  }

  synthesisFailed(reason: string): void {
    this.#synthesisFailures.add(1, { reason });
  }
}

export interface AuditionLabels {
  cacheStatus: string;
  tier: string;
  status: number;
}

function labelsOf({ cacheStatus, tier, status }: AuditionLabels): Attributes {
  return { cache_status: cacheStatus, tier, status };
}
