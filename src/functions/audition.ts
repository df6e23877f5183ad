import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createAuditionHandler } from '../handlers/audition-handler.ts';

export const auditionFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'audition',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/characters/audition',
    // The caller's Khipu access token is verified by the handler itself.
    authLevel: 'anonymous',
    handler: createAuditionHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.http(auditionFunction.name, auditionFunction.options);
