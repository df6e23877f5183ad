import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createStatsHandler } from '../handlers/stats-handler.ts';

export const cacheStatsFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'cacheStats',
  options: {
    methods: ['GET'],
    route: 'v1/audio-cache/stats',
    authLevel: 'anonymous', // the caller's Khipu access token is verified by the handler
    handler: createStatsHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.http(cacheStatsFunction.name, cacheStatsFunction.options);
