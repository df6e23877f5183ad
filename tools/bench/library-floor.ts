// The Functions library's own minimum per HTTP invocation, with nothing of our local host around it: the probe's
// "library floor" (cpu-probe.ts). A bare Node HTTP server that, per request, does what @azure/functions does for a v4
// function in stream mode (its createStreamRequest, toRpcHttp and sendProxyResponse): a fetch Request over the
// incoming message, the HttpRequest around it and an InvocationContext; the floor app's function (floor-app.ts,
// BENCH_AUDIO_FILE: it reads the body and answers a warm HIT's bytes and headers); its answer made an HttpResponse and
// written header by header, the body chunk by chunk from the response's stream. No routing, no CORS, no problem
// table: in Azure those are the Functions host's, in another process, as are the gRPC messages the worker also
// exchanges with it per invocation. What is left is what no v4 HTTP function can skip.
//
// PORT=… BENCH_AUDIO_FILE=… node dist/tools/bench/library-floor.js
import http from 'node:http';
import { HttpRequest, HttpResponse, InvocationContext, type HttpRequestInit } from '@azure/functions';
import { constantFunction } from './floor-app.ts';

const { handler } = constantFunction.options;

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const method = req.method ?? 'GET';
  const nativeRequest = new Request(url, { method, headers, body: req, duplex: 'half' });
  const request = new HttpRequest({
    method,
    url: url.toString(),
    headers,
    params: {},
    query: {},
    nativeRequest,
  } as HttpRequestInit);
  const context = new InvocationContext({ invocationId: crypto.randomUUID(), functionName: constantFunction.name });
  answer(request, context, res).catch(() => res.destroy());
});

/** The handler's answer as the library's sendProxyResponse writes it. */
async function answer(request: HttpRequest, context: InvocationContext, res: http.ServerResponse): Promise<void> {
  const init = await handler(request, context);
  const response = init instanceof HttpResponse ? init : new HttpResponse(init);
  for (const [name, value] of response.headers.entries()) res.setHeader(name, value);
  res.statusCode = response.status;
  if (response.body) for await (const chunk of response.body.values()) res.write(chunk);
  res.end();
}

server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`Listening on ${process.env.PORT}`));
