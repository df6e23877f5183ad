import type { HttpFunctionOptions } from '@azure/functions';

/**
 * A function's registration as plain data: the trigger file registers it with one `app.*`
 * line, and the local host and the tests read the same object (the Functions library keeps
 * no public list of what was registered).
 */
export interface HttpFunctionDefinition {
  trigger: 'http';
  name: string;
  options: HttpFunctionOptions;
}

export type FunctionDefinition = HttpFunctionDefinition;

export function isFunctionDefinition(value: unknown): value is FunctionDefinition {
  return typeof value === 'object' && value !== null && (value as { trigger?: unknown }).trigger === 'http';
}
