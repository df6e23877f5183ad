import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export interface ServeProcess {
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
}

const root = path.resolve(__dirname, '../..');

/** The deployment package's bundle, as `npm run package` (run by `npm test` first) writes it. */
export const PACKAGED_APP = path.join(root, '.deploy/app/dist/main.js');

/**
 * The local host (`dist/tools/serve.js`) as a child process, resolved once it listens, serving
 * what is deployed: the package's bundle (`app`, by default), or the compiled sources (`null`,
 * what `npm run serve` runs). `env` is its whole environment.
 */
export function startServeProcess(env: NodeJS.ProcessEnv, cwd: string, app: string | null = PACKAGED_APP): Promise<ServeProcess> {
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
