import { app } from '@azure/functions';
import type { HttpFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createAuditionHandler } from '../handlers/audition-handler.ts';

/** The route the shipped Khipu web app's pages call; the same cache as `audition`. */
export const voiceAuditionFunction: HttpFunctionDefinition = {
  trigger: 'http',
  name: 'voiceAudition',
  options: {
    methods: ['POST'],
    route: 'v1/projects/{projectId}/voices/{voiceId}/audition',
    // The caller's Khipu access token is verified by the handler itself.
    authLevel: 'anonymous',
    handler: createAuditionHandler(getWorkerServices, 'voices'),
  },
};

configureWorkerApp();
app.http(voiceAuditionFunction.name, voiceAuditionFunction.options);
