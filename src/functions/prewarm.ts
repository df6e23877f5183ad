import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createPrewarmHandler } from '../handlers/prewarm-handler.ts';

export const prewarmFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'prewarm',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/auditions/prewarm',
    authLevel: 'anonymous', // the caller's Khipu access token is verified by the handler
    handler: createPrewarmHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.http(prewarmFunction.name, prewarmFunction.options);
