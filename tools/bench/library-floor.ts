// The Functions library's own work per HTTP invocation, with nothing of our local host around it: the probe's
// "library floor" (cpu-probe.ts). A bare Node HTTP server that, per request, does what @azure/functions does for a v4
// function in stream mode in Azure (its createStreamRequest, toRpcHttp and sendProxyResponse): a fetch Request over
// the incoming message (no body for GET and HEAD), the HttpRequest around it (which parses the URL for its query) and
// an InvocationContext; the floor app's function (floor-app.ts, BENCH_AUDIO_FILE: it reads the body and answers a warm
// HIT's bytes and headers); its answer made an HttpResponse and written header by header, the body chunk by chunk from
// the response's stream.
//
// A lower bound of the library's work: it leaves out the proxy's request/response bookkeeping (waitForProxyRequest),
// reading headers and route parameters from the trigger metadata, the context's trace, binding and trigger metadata,
// the invocation model's output bindings, and the response-header filter and x-ms-invocation-id that
// sendProxyResponse adds. Routing, CORS and the problem table are the Functions host's, in another process, as are
// the gRPC messages the worker exchanges with it per invocation. Our local host writes a plain audio answer without
// the HttpResponse, so its floor (the probe's `floor`) can come out under this one.
//
// PORT=… BENCH_AUDIO_FILE=… node dist/tools/bench/library-floor.js
import http from 'node:http';
import { HttpRequest, HttpResponse, InvocationContext, type HttpRequestInit } from '@azure/functions';
import { constantFunction } from './floor-app.ts';

const { handler } = constantFunction.options;
let invocations = 0;

const server = http.createServer((req, res) => {
  answer(req, res).catch(() => res.destroy());
});

/** One invocation, as the library runs it. */
async function answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const method = req.method ?? 'GET';
  const nativeRequest = new Request(`http://127.0.0.1${req.url ?? '/'}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : req,
    duplex: 'half',
  });
  // What createStreamRequest passes (the public type does not list nativeRequest).
  const request = new HttpRequest({ nativeRequest, params: {} } as HttpRequestInit);
  // In Azure the host gives the invocation its id.
  const context = new InvocationContext({ invocationId: String(++invocations), functionName: constantFunction.name });
  const init = await handler(request, context);
  const response = init instanceof HttpResponse ? init : new HttpResponse(init);
  for (const [name, value] of response.headers.entries()) res.setHeader(name, value);
  res.statusCode = response.status;
  if (response.body) for await (const chunk of response.body.values()) res.write(chunk);
  res.end();
}

server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`Listening on ${process.env.PORT}`));
