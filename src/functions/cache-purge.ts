import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createPurgeHandler } from '../handlers/purge-handler.ts';

export const cachePurgeFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'cachePurge',
  options: {
    methods: ['DELETE'],
    route: 'v1/audio-cache',
    authLevel: 'anonymous', // the caller's Khipu access token (role admin) is verified by the handler
    handler: createPurgeHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.http(cachePurgeFunction.name, cachePurgeFunction.options);
