import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { SHIPPED_VOICES, type InventoryVoice } from '../../src/domain/voice-inventory.ts';

/**
 * A local stand-in for the Azure Speech synthesis websocket, speaking the protocol the real
 * Speech SDK speaks (see shared/facts/azure-speech-sdk.md), so tests run the SDK's real code
 * path end to end. What it does with the next requests is set with `behave()`.
 */
export type StandInBehaviour =
  /**
   * Answer with audio: the first chunk `delayMs` after the SSML arrives, then a 4 KB chunk
   * every `chunkIntervalMs` (all at once without it), as the real service streams a turn.
   * With `stallAfterChunks`, it goes quiet after that many chunks, the turn never ending and
   * the connection left open (a service that hangs midway).
   */
  | { kind: 'audio'; audio?: Buffer; delayMs?: number; chunkIntervalMs?: number; stallAfterChunks?: number }
  /** Refuse the websocket upgrade with this HTTP status (401, 403, 429). */
  | { kind: 'reject-upgrade'; status: number }
  /** Take the connection and never answer the websocket upgrade. (These two end the connections already open.) */
  | { kind: 'stall-upgrade' }
  /** Close the socket after receiving the SSML. */
  | { kind: 'close'; code: number; reason: string }
  /** Close with 1000 after the turn started and some audio went out. */
  | { kind: 'close-mid-turn' }
  | { kind: 'hang' }
  /** turn.start, response, turn.end: a "successful" turn with no audio. */
  | { kind: 'no-audio' };

export interface ReceivedSynthesis {
  key: string | undefined;
  ssml: string;
  outputFormat: string | undefined;
  /** performance.now() when the SSML arrived, the first audio went out, and the turn ended. */
  receivedAt: number;
  firstAudioAt?: number;
  endedAt?: number;
}

/**
 * What `GET /cognitiveservices/voices/list` answers: these voices (as Azure's entries), this
 * status, or nothing ever ('hang': the request is taken and never answered).
 */
export type StandInVoiceList = readonly InventoryVoice[] | { status: number } | 'hang';

export interface SpeechStandIn {
  /** `ws://127.0.0.1:PORT`: the value of AZURE_SPEECH_HOST. */
  host: string;
  received: ReceivedSynthesis[];
  /** Each voices/list request, in order: the key it sent (a request without one is refused, 401). */
  voiceListRequests: { key: string | undefined }[];
  /** What the next voices/list requests get; the shipped inventory until set. */
  voiceList(answer: StandInVoiceList): void;
  /** Most turns that were being answered at the same time, since the start or the last reset. */
  readonly maxConcurrent: number;
  /** Websocket connections accepted so far (a synthesis on a kept connection opens none). */
  readonly connections: number;
  /** Websocket connections open now. */
  readonly openConnections: number;
  /** Websocket connections open now that were opened with this key. */
  openConnectionsWith(key: string): number;
  /** Ends every open websocket: closed (1000), as the service closes idle ones, or reset (1006). */
  dropConnections(how?: 'close' | 'reset'): void;
  resetStats(): void;
  behave(behaviour: StandInBehaviour): void;
  stop(): Promise<void>;
}

export async function startSpeechStandIn(audio: Buffer): Promise<SpeechStandIn> {
  let behaviour: StandInBehaviour = { kind: 'audio' };
  const received: ReceivedSynthesis[] = [];
  let inFlight = 0;
  let maxConcurrent = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  /** The key each connection was opened with. */
  const keys = new WeakMap<WebSocket, string | undefined>();
  const voiceListRequests: { key: string | undefined }[] = [];
  let voiceList: StandInVoiceList = SHIPPED_VOICES;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== VOICE_LIST_PATH) {
      res.writeHead(404).end();
      return;
    }
    const key = req.headers['ocp-apim-subscription-key'] as string | undefined;
    voiceListRequests.push({ key });
    if (!key) res.writeHead(401).end();
    else if (voiceList === 'hang')
      return; // the request stays open, unanswered
    else if ('status' in voiceList) res.writeHead(voiceList.status).end();
    else {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(voiceList.map(azureVoiceEntry)));
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });
  const dropConnections = (how: 'close' | 'reset' = 'close') => {
    for (const client of wss.clients) {
      if (how === 'close') client.close(1000, 'idle');
      else client.terminate();
    }
  };

  server.on('upgrade', (req, socket, head) => {
    if (behaviour.kind === 'reject-upgrade') {
      socket.end(`HTTP/1.1 ${behaviour.status} ${http.STATUS_CODES[behaviour.status]}\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    if (behaviour.kind === 'stall-upgrade') return; // the socket stays open, unanswered
    const key =
      new URL(req.url ?? '/', 'http://x').searchParams.get('Ocp-Apim-Subscription-Key') ??
      (req.headers['ocp-apim-subscription-key'] as string | undefined);
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++;
      keys.set(ws, key);
      serve(ws, key);
    });
  });

  function serve(ws: WebSocket, key: string | undefined) {
    let outputFormat: string | undefined;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const { headers, body } = parseTextMessage(
        Buffer.isBuffer(data)
          ? data.toString()
          : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString(),
      );
      const requestId = headers['x-requestid'] ?? '';
      const path = (headers.path ?? '').toLowerCase();
      if (path === 'synthesis.context') {
        outputFormat = (JSON.parse(body) as { synthesis?: { audio?: { outputFormat?: string } } } | null)?.synthesis
          ?.audio?.outputFormat;
      } else if (path === 'ssml') {
        const synthesis: ReceivedSynthesis = { key, ssml: body, outputFormat, receivedAt: performance.now() };
        received.push(synthesis);
        void respond(ws, requestId, behaviour, synthesis);
      }
    });
  }

  async function respond(ws: WebSocket, requestId: string, how: StandInBehaviour, synthesis: ReceivedSynthesis) {
    const text = (path: string, body: string) =>
      ws.send(`X-RequestId: ${requestId}\r\nPath: ${path}\r\nContent-Type: application/json\r\n\r\n${body}`);
    const streamId = '1';
    switch (how.kind) {
      case 'hang':
        return;
      case 'close':
        ws.close(how.code, how.reason);
        return;
      case 'no-audio':
        text('turn.start', '{"context":{"serviceTag":"stand-in"}}');
        text('response', JSON.stringify({ audio: { streamId } }));
        text('turn.end', '{}');
        return;
      case 'close-mid-turn':
        text('turn.start', '{"context":{"serviceTag":"stand-in"}}');
        text('response', JSON.stringify({ audio: { streamId } }));
        ws.send(audioFrame(requestId, streamId, audio.subarray(0, 100)));
        ws.close(1000, 'bye');
        return;
      case 'audio': {
        const bytes = how.audio ?? audio;
        inFlight++;
        maxConcurrent = Math.max(maxConcurrent, inFlight);
        try {
          text('turn.start', '{"context":{"serviceTag":"stand-in"}}');
          text('response', JSON.stringify({ audio: { streamId } }));
          if (how.delayMs) await new Promise((resolve) => setTimeout(resolve, how.delayMs));
          for (let offset = 0, sent = 0; offset < bytes.length; offset += 4096, sent++) {
            if (sent === how.stallAfterChunks) return; // quiet from here on, the socket left open
            if (offset > 0 && how.chunkIntervalMs)
              await new Promise((resolve) => setTimeout(resolve, how.chunkIntervalMs));
            ws.send(audioFrame(requestId, streamId, bytes.subarray(offset, offset + 4096)));
            synthesis.firstAudioAt ??= performance.now();
          }
          text('turn.end', '{}');
          synthesis.endedAt = performance.now();
        } finally {
          inFlight--;
        }
        return;
      }
      default:
        return;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `ws://127.0.0.1:${port}`,
    received,
    voiceListRequests,
    voiceList(answer) {
      voiceList = answer;
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return wss.clients.size;
    },
    openConnectionsWith(key) {
      return [...wss.clients].filter((ws) => keys.get(ws) === key).length;
    },
    dropConnections,
    resetStats() {
      maxConcurrent = inFlight;
    },
    behave(next) {
      behaviour = next;
      // How the service answers a new connection: one kept open from before would never see it (a synthesis on a
      // kept connection opens none), so those are ended, as the service ends a connection whose key it now refuses.
      if (next.kind === 'reject-upgrade' || next.kind === 'stall-upgrade') dropConnections('reset');
    },
    async stop() {
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const VOICE_LIST_PATH = '/cognitiveservices/voices/list';

/** A voice as Azure's voices/list describes one (the fields a client reads; made-up values for the rest). */
function azureVoiceEntry({ name, locale }: InventoryVoice, index: number) {
  const displayName = name.slice(locale.length + 1).replace(/Neural$/, '');
  return {
    Name: `Microsoft Server Speech Text to Speech Voice (${locale}, ${name.slice(locale.length + 1)})`,
    DisplayName: displayName,
    LocalName: displayName,
    ShortName: name,
    Gender: index % 2 === 0 ? 'Female' : 'Male',
    Locale: locale,
    LocaleName: locale,
    SampleRateHertz: '48000',
    VoiceType: 'Neural',
    Status: 'GA',
    WordsPerMinute: '150',
  };
}

function parseTextMessage(message: string): { headers: Record<string, string>; body: string } {
  const split = message.indexOf('\r\n\r\n');
  const head = split === -1 ? message : message.slice(0, split);
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: split === -1 ? '' : message.slice(split + 4) };
}

/** Binary frame: 2-byte big-endian header length, ASCII headers, then the audio bytes. */
function audioFrame(requestId: string, streamId: string, payload: Buffer): Buffer {
  const headers = Buffer.from(`X-RequestId: ${requestId}\r\nPath: audio\r\nX-StreamId: ${streamId}\r\n`, 'ascii');
  const length = Buffer.alloc(2);
  length.writeUInt16BE(headers.length);
  return Buffer.concat([length, headers, payload]);
}
