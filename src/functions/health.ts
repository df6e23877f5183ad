import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createHealthHandler } from '../handlers/health-handler.ts';

export const healthFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'health',
  options: {
    methods: ['GET'],
    route: 'health',
    authLevel: 'anonymous',
    handler: createHealthHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.http(healthFunction.name, healthFunction.options);
