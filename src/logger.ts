/** What the code below a handler may log through: the InvocationContext fits it as it is. */
export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
