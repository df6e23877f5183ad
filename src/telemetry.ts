import os from 'node:os';
import { metrics, type Attributes, type Counter, type Histogram } from '@opentelemetry/api';
import { describeError } from './errors.ts';

let started: { shutdown(): Promise<void> } | undefined;

/** How often the buffered metrics go to Application Insights (the distro's default). */
const EXPORT_INTERVAL_MS = 60_000;

/**
 * Sends the service's metrics to Application Insights when a connection string is set (once
 * per process): OpenTelemetry's metrics SDK with Azure Monitor's exporter, registered as the
 * global meter provider. Nothing else: requests and dependencies come from the Functions host,
 * so the Azure Monitor distro (tracing, logs, instrumentations, ~200 MB installed) is not
 * needed. Without a connection string nothing is loaded and every metric below is a no-op.
 */
export function startTelemetry(connectionString: string | undefined): void {
  if (!connectionString || started) return;
  try {
    // Loaded here, not imported: an instance without Application Insights never loads them,
    // and one with it loads them once, off the module-loading path of a cold start.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { AzureMonitorMetricExporter } =
      require('@azure/monitor-opentelemetry-exporter') as typeof import('@azure/monitor-opentelemetry-exporter');
    const { MeterProvider, PeriodicExportingMetricReader } =
      require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
    const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const provider = new MeterProvider({
      // cloud_RoleName and cloud_RoleInstance in Application Insights: the Function App and
      // its instance, as the host reports its own requests.
      resource: resourceFromAttributes({
        'service.name': process.env.WEBSITE_SITE_NAME || 'khipu-audition-cache',
        'service.instance.id': process.env.WEBSITE_INSTANCE_ID || os.hostname(),
      }),
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new AzureMonitorMetricExporter({ connectionString }),
          exportIntervalMillis: EXPORT_INTERVAL_MS,
        }),
      ],
    });
    metrics.setGlobalMeterProvider(provider);
    started = {
      shutdown: async () => {
        await provider.shutdown(); // exports what is buffered first
        metrics.disable();
      },
    };
  } catch (error) {
    // Monitoring is not worth an outage: the service runs on, without metrics, and says so.
    console.warn(`Application Insights metrics are off: the metrics exporter did not start: ${describeError(error)}`);
  }
}

/** Exports what is buffered and stops the exporter (the app is stopping). */
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
    this.#requests = meter.createCounter('audition_requests', {
      description: 'Audition requests by cache status (HIT-L2, MISS, BYPASS, ERROR) and tier',
    });
    this.#bytes = meter.createCounter('audition_bytes_served', {
      description: 'Audio bytes sent to callers',
      unit: 'By',
    });
    this.#synthesisMs = meter.createHistogram('tts_synthesis_duration', {
      description: 'Time to synthesize one audition',
      unit: 'ms',
    });
    this.#synthesisFailures = meter.createCounter('tts_synthesis_failures', {
      description: 'Failed syntheses by reason',
    });
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
