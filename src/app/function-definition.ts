import type { HttpFunctionOptions, TimerFunctionOptions } from '@azure/functions';

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

export interface TimerFunctionDefinition {
  trigger: 'timer';
  name: string;
  options: TimerFunctionOptions;
}

export type FunctionDefinition = HttpFunctionDefinition | TimerFunctionDefinition;

export function isFunctionDefinition(value: unknown): value is FunctionDefinition {
  const trigger = typeof value === 'object' && value !== null ? (value as { trigger?: unknown }).trigger : undefined;
  return trigger === 'http' || trigger === 'timer';
}
