import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { inject } from 'vitest';
import type { TestServices } from './test-services.ts';
import { root } from './repo.ts';

export interface ServeProcess {
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
}

/** The deployment package's bundle, as `npm run package` (run by `npm test` first) writes it. */
export const PACKAGED_APP = path.join(root, '.deploy/app/dist/main.js');

/**
 * The local host (`dist/tools/serve.js`) as a child process, resolved once it listens, serving
 * what is deployed: the package's bundle (`app`, by default), or the compiled sources (`null`,
 * what `npm run serve` runs). `env` is its whole environment.
 */
export function startServeProcess(
  env: NodeJS.ProcessEnv,
  cwd: string,
  app: string | null = PACKAGED_APP,
): Promise<ServeProcess> {
  const args = [path.join(root, 'dist/tools/serve.js'), ...(app ? ['--app', app] : [])];
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 30_000);
    const onExit = (code: number | null) => reject(new Error(`serve exited (${code}):\n${output}`));
    child.once('exit', onExit);
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on('line', (line) => {
        output += `${line}\n`;
        if (line.includes('Listening on')) {
          clearTimeout(timer);
          child.removeListener('exit', onExit);
          resolve({ process: child, output: () => output });
        }
      });
    }
  });
}

/**
 * A host's environment on a test's services: this process's environment (without its own
 * DATABASE_URL), then the services' database, Blob container (on the suite's Azurite) and
 * token secret, then `extra`, which wins.
 */
export function hostEnvironment(
  services: Pick<TestServices, 'database' | 'config'>,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  const { DATABASE_URL: _, ...env } = process.env;
  return {
    ...env,
    DATABASE_URL: services.database.url,
    AZURE_STORAGE_CONNECTION_STRING: inject('azuriteConnectionString'),
    AZURE_STORAGE_CONTAINER_NAME: services.config.blobStorage.containerName,
    JWT_SECRET_KEY: services.config.jwt.secretKey,
    PREDICTIVE_PREWARM_MAX_VOICES: String(services.config.predictivePrewarm.maxVoices), // as the test's services
    PROJECT_STORAGE_ALLOW_ANY_ENDPOINT: String(services.config.projectStorage.allowAnyEndpoint),
    ...extra,
  };
}
