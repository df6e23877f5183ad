import { HttpRequest, HttpResponse, InvocationContext, type HttpHandler } from '@azure/functions';

export interface Invocation {
  response: HttpResponse;
  /** Everything the handler logged, one line per call. */
  logs: string[];
}

/** Calls a handler the way the Functions host does, with the library's real request objects. */
export async function invokeHttp(
  handler: HttpHandler,
  request: {
    method?: string;
    url: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    params?: Record<string, string>;
  },
): Promise<Invocation> {
  const logs: string[] = [];
  const context = new InvocationContext({
    invocationId: crypto.randomUUID(),
    functionName: 'test',
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
  const body =
    request.body === undefined
      ? undefined
      : typeof request.body === 'string'
        ? { string: request.body }
        : { bytes: request.body };
  const httpRequest = new HttpRequest({
    method: request.method ?? 'POST',
    url: request.url,
    headers: request.headers,
    body,
    params: request.params,
  });
  const init = await handler(httpRequest, context);
  return { response: new HttpResponse(init), logs };
}
