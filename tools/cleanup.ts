// npm run cleanup: one cleanup pass by hand, with the same routine, settings and log lines as
// the hourly timer. Settings: the environment, then ./local.settings.json's Values.
// `npm run cleanup -- --report FILE` also writes the pass's numbers and this process's peak
// RSS to FILE as JSON (the cleanup benchmark reads it).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createServices } from '../src/app/services.ts';
import { parseConfig } from '../src/config.ts';
import { applyLocalSettings, readLocalSettings } from './local-host/local-settings.ts';
import { describeError } from '../src/errors.ts';

const stamp = (level: string, args: unknown[]) =>
  `[${new Date().toISOString()}] ${level}: ${args.map(String).join(' ')}`;
const log = {
  info: (...args: unknown[]) => console.log(stamp('info', args)),
  warn: (...args: unknown[]) => console.warn(stamp('warning', args)),
  error: (...args: unknown[]) => console.error(stamp('error', args)),
};

async function main(): Promise<void> {
  applyLocalSettings((await readLocalSettings(path.resolve('local.settings.json'))).values);
  const services = createServices(parseConfig());
  try {
    const report = await services.cleanup.run(log);
    const reportFile = process.argv.indexOf('--report');
    if (reportFile !== -1 && process.argv[reportFile + 1]) {
      const peakRssMb = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
      await writeFile(process.argv[reportFile + 1]!, JSON.stringify({ ...report, peakRssMb }));
    }
  } finally {
    await services.close();
  }
}

main().catch((error: unknown) => {
  log.error(describeError(error));
  process.exitCode = 1;
});
