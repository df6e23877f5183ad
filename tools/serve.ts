// npm run serve: the HTTP functions on http://localhost:$PORT/api, without Azure Functions Core
// Tools (which cannot be installed where only the npm registry is reachable). It reads the
// environment and, like Core Tools, the Values of ./local.settings.json (the environment wins).
//
// `--app <file>` serves the deployment package's bundle (`npm run package`:
// .deploy/app/dist/main.js) instead of the compiled sources, so the tests that start a host
// test what is deployed.
//
// `--upstream <url>` (or KHIPU_CLOUD_API_URL) sends every path no function serves to that URL,
// the Khipu Cloud API, so the web app's one base URL reaches both (its token refresh included).
//
// It listens on 127.0.0.1 only, unless `--host <address>` (or LOCAL_HOST_ADDRESS) names another
// address: then it warns that others can reach what it serves without authentication. Browsers
// may read its answers from the origins of local.settings.json's Host.CORS (default: khipu-web's
// dev server, http://localhost:3000), never from any other.
import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  isFunctionDefinition,
  type FunctionDefinition,
  type TimerFunctionDefinition,
} from '../src/app/function-definition.ts';
import type { parseConfig as ParseConfig } from '../src/config.ts';
import { describeError } from '../src/errors.ts';
import { createLocalHost } from './local-host/http-host.ts';
import { corsOriginsFor, describeCorsPolicy, parseCorsPolicy } from './local-host/cors.ts';
import {
  exposureWarning,
  isEveryInterface,
  LISTEN_ADDRESS_SETTING,
  localUrlHost,
  readListenAddress,
  urlHost,
} from './local-host/listen-address.ts';
import { applyLocalSettings, readLocalSettings } from './local-host/local-settings.ts';
import { scheduleTimers } from './local-host/timer-scheduler.ts';
import { readUpstreamUrl, UPSTREAM_SETTING } from './local-host/upstream-proxy.ts';
import { projectRoot } from './project-root.ts';

/** What the host takes from the app: its functions, and the two calls around them. */
interface LoadedApp {
  functions: FunctionDefinition[];
  parseConfig: typeof ParseConfig;
  closeWorkerServices: () => Promise<void>;
  /** The appStart hook's work (services.ts): absent from an app that has none (the bench's floor apps). */
  startWorkerServices?: () => void;
  /** The folder with the app's host.json. */
  root: string;
}

/** The deployment bundle: one module exporting every definition and the two calls. */
function loadBundle(file: string): LoadedApp {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const exported = require(path.resolve(file)) as Record<string, unknown> &
    Pick<LoadedApp, 'parseConfig' | 'closeWorkerServices' | 'startWorkerServices'>;
  return {
    functions: Object.values(exported).filter(isFunctionDefinition),
    parseConfig: exported.parseConfig,
    closeWorkerServices: exported.closeWorkerServices,
    startWorkerServices: exported.startWorkerServices,
    root: projectRoot(path.dirname(path.resolve(file))),
  };
}

/** The compiled sources: the same files `func start` loads (package.json main: every module in src/functions). */
async function loadSources(): Promise<LoadedApp> {
  const functionsDir = path.join(__dirname, '../src/functions');
  const extension = path.extname(__filename);
  const functions: FunctionDefinition[] = [];
  for (const file of (await readdir(functionsDir))
    .filter((f) => f.endsWith(extension) && !f.endsWith(`.d${extension}`))
    .sort()) {
    const exported = (await import(path.join(functionsDir, file))) as Record<string, unknown>;
    functions.push(...Object.values(exported).filter(isFunctionDefinition));
  }
  const [{ parseConfig }, { closeWorkerServices, startWorkerServices }] = await Promise.all([
    import('../src/config.ts'),
    import('../src/app/worker-app.ts'),
  ]);
  return { functions, parseConfig, closeWorkerServices, startWorkerServices, root: projectRoot() };
}

async function main(): Promise<void> {
  // performance.now() counts from the process's start: the phases are read off it below.
  const { values: args } = parseArgs({
    options: { app: { type: 'string' }, upstream: { type: 'string' }, host: { type: 'string' } },
  });
  const settings = await readLocalSettings(path.resolve('local.settings.json'));
  applyLocalSettings(settings.values);
  const upstreamFrom = args.upstream !== undefined ? '--upstream' : UPSTREAM_SETTING;
  const upstream = readUpstreamUrl(args.upstream ?? process.env[UPSTREAM_SETTING], upstreamFrom);
  const addressFrom = args.host !== undefined ? '--host' : LISTEN_ADDRESS_SETTING;
  const address = readListenAddress(args.host ?? process.env[LISTEN_ADDRESS_SETTING], addressFrom);
  const cors = corsOriginsFor(settings);
  const corsPolicy = parseCorsPolicy(cors.origins, settings.corsCredentials, cors.source);
  const settingsReadMs = performance.now();
  const { functions, parseConfig, closeWorkerServices, startWorkerServices, root } = args.app
    ? loadBundle(args.app)
    : await loadSources();
  const appLoadedMs = performance.now();
  const config = parseConfig(); // fail now, naming what is missing, not on the first request
  startWorkerServices?.(); // as the worker's appStart hook does: connections opened before the first request
  const configuredMs = performance.now();
  if (config.speech.provider === 'local') {
    console.log('TTS_PROVIDER=local: auditions use the OFFLINE development voice (eSpeak NG), not Azure.');
  }

  const host = JSON.parse(await readFile(path.join(root, 'host.json'), 'utf8')) as {
    extensions?: { http?: { routePrefix?: string } };
  };
  const routePrefix = host.extensions?.http?.routePrefix ?? 'api';

  // One write per turn of the event loop, not one per line: under load, a synchronous write
  // per request line was a sixth of the host's CPU.
  let pending: string[] = [];
  const flushLog = () => {
    if (pending.length === 0) return;
    process.stdout.write(pending.join(''));
    pending = [];
  };
  const log = (line: string) => {
    if (pending.length === 0) setImmediate(flushLog);
    pending.push(`[${new Date().toISOString()}] ${line}\n`);
  };
  process.once('exit', flushLog);
  const server = createLocalHost({
    functions,
    routePrefix,
    corsOrigins: cors.origins,
    corsCredentials: settings.corsCredentials,
    log,
    ...(upstream ? { upstream: { url: upstream } } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, address, resolve);
  });
  // What the socket is bound to, not what was asked for: the lines below are the truth about who can connect.
  const bound = server.address() as AddressInfo;
  const origin = `http://${localUrlHost(bound.address)}:${bound.port}`;
  const base = `${origin}${routePrefix ? `/${routePrefix}` : ''}`;
  console.log('\nFunctions:\n');
  for (const fn of functions) {
    if (fn.trigger === 'http') {
      console.log(
        `\t${fn.name}: [${(fn.options.methods ?? ['GET', 'POST']).join(',')}] ${base}/${fn.options.route ?? fn.name}`,
      );
    } else {
      console.log(
        `\t${fn.name}: timerTrigger (${fn.options.schedule}; run now: POST ${origin}/admin/functions/${fn.name})`,
      );
    }
  }
  console.log(`\nBrowser origins (CORS): ${describeCorsPolicy(corsPolicy, cors.source)}`);
  if (upstream) console.log(`Other paths → ${upstream.href.replace(/\/$/, '')} (${upstreamFrom})`);
  const listeningMs = performance.now();
  const ms = (from: number, to: number) => `${(to - from).toFixed(0)} ms`;
  console.log(
    `\nStarted in ${listeningMs.toFixed(0)} ms: host ${ms(0, settingsReadMs)}, app modules ${ms(settingsReadMs, appLoadedMs)}, ` +
      `configuration ${ms(appLoadedMs, configuredMs)}, listening ${ms(configuredMs, listeningMs)}${args.app ? ` (${args.app})` : ''}`,
  );
  const warning = exposureWarning({ address: bound.address, port: bound.port, source: addressFrom, upstream });
  if (warning) console.log(`\n${warning.join('\n')}\n`);
  const listening = `http://${urlHost(bound.address)}:${bound.port}${routePrefix ? `/${routePrefix}` : ''}`;
  console.log(
    `Listening on ${listening}${isEveryInterface(bound.address) ? ', every interface' : ''} (Ctrl-C to stop)`,
  );

  const stopTimers = scheduleTimers(
    functions.filter((f): f is TimerFunctionDefinition => f.trigger === 'timer'),
    log,
  );
  // Like the worker's appTerminate hook: the hit counts still in memory are written first.
  const stop = () => {
    stopTimers();
    server.close();
    server.closeAllConnections();
    closeWorkerServices().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`error: closing the services: ${describeError(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(describeError(error));
  process.exit(1);
});
