// The cold-start floor of `npm run bench:cold`: an app of one function that answers a constant
// on the audition's route, bundled like the deployment package (tools/package.ts) and served
// by the same local host. What no app can beat: the host, the Functions library, one function.
import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../../src/app/function-definition.ts';

export const constantFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'constant',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/audition',
    authLevel: 'anonymous',
    handler: () => Promise.resolve({ status: 200, body: 'ok' }),
  },
};

app.http(constantFunction.name, constantFunction.options);

/** What the local host reads of an app's configuration: its port and its voice. */
export function parseConfig(): { port: number; speech: { provider: 'azure' } } {
  return { port: Number(process.env.PORT ?? 7071), speech: { provider: 'azure' } };
}

export function closeWorkerServices(): Promise<void> {
  return Promise.resolve();
}
