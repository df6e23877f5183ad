// The Functions library's own minimum per HTTP invocation, with nothing of our local host around it: the probe's
// "library floor" (cpu-probe.ts). A bare Node HTTP server that, per request, builds what the library hands a v4
// function in stream mode (a fetch Request over the incoming message, the HttpRequest around it, an
// InvocationContext), runs the floor app's function (floor-app.ts, BENCH_AUDIO_FILE: it reads the body and answers a
// warm HIT's bytes and headers) and writes its answer with writeHead/end. No routing, no CORS, no problem table: in
// Azure those are the Functions host's, in another process. What is left is what no v4 HTTP function can skip.
//
// PORT=… BENCH_AUDIO_FILE=… node dist/tools/bench/library-floor.js
import http from 'node:http';
import { HttpRequest, InvocationContext, type HttpRequestInit } from '@azure/functions';
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
  Promise.resolve(handler(request, context)).then(
    (answer) => {
      const init = answer as { status?: number; headers?: Record<string, string>; body?: Uint8Array };
      res.writeHead(init.status ?? 200, init.headers).end(init.body);
    },
    () => res.writeHead(500).end(),
  );
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`Listening on ${process.env.PORT}`));
