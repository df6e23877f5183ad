import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction, type NetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestPolicy, RequestPolicyFactory, WebResource } from '@azure/storage-blob';
import ipaddr from 'ipaddr.js';

// The connections to a storage account, held to two rules whatever its server does: no response of more than
// `maxResponseBytes` is read (the Storage SDK buffers error bodies and list pages whole, and a stored audition could be
// any size), and, for accounts a tenant names, no connection to an address that is not public (loopback, private,
// link-local, unique-local, the metadata service…), checked on the address actually connected to, after DNS, so a
// name that resolves differently the second time gains nothing.

/** A response ran past the bytes a connection may carry; the connection was closed. */
export class ResponseTooLargeError extends Error {
  readonly code = 'ERR_RESPONSE_TOO_LARGE';
  constructor(maxBytes: number) {
    super(`the response is larger than ${maxBytes} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

/** The host resolved to an address that may not be connected to; nothing was sent. */
export class AddressNotAllowedError extends Error {
  readonly code = 'ERR_ADDRESS_NOT_ALLOWED';
  constructor() {
    super('the host is not at a public address');
    this.name = 'AddressNotAllowedError';
  }
}

export interface GuardedAgentOptions {
  /** Bytes one response may carry, status line, headers and body: past them its connection is destroyed. */
  maxResponseBytes: number;
  /** Connect only to public unicast addresses (a tenant's account); false for the operator's (a private endpoint). */
  publicAddressesOnly: boolean;
}

/** Whether `address` is a public unicast IP address (IPv4-mapped IPv6 judged as the IPv4 it carries). */
export function isPublicAddress(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'unicast';
}

/** DNS as `dns.lookup`, refusing a name any of whose addresses is not public. */
const publicLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    if (addresses.length === 0 || !addresses.every((entry) => isPublicAddress(entry.address))) {
      return callback(new AddressNotAllowedError(), '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, all: dns.LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

/** An agent for each protocol (http: Azurite, in development). */
export interface GuardedAgents {
  http: http.Agent;
  https: https.Agent;
}

/** The two agents that hold a store's connections to those rules. */
export function createGuardedAgents(options: GuardedAgentOptions): GuardedAgents {
  const agentOptions = { keepAlive: true, ...(options.publicAddressesOnly ? { lookup: publicLookup } : {}) };
  const guarded = <A extends http.Agent>(agent: A): A => {
    const create = agent.createConnection.bind(agent) as (
      opts: NetConnectOpts,
      callback?: (error: Error | null, socket: Duplex) => void,
    ) => Duplex;
    agent.createConnection = (opts: NetConnectOpts & { host?: string }, callback) => {
      // A literal address is never looked up: it is judged here.
      if (options.publicAddressesOnly && opts.host && net.isIP(opts.host) && !isPublicAddress(opts.host)) {
        throw new AddressNotAllowedError();
      }
      return create(opts, callback);
    };
    // Each request's answer is counted on the connection that carries it (a kept-alive one carries one at a time),
    // where the bytes arrive whatever reads them: the SDK reads an error body or a listing whole before anyone sees it.
    // Past the limit the answer is failed with ResponseTooLargeError, and its connection closed.
    // `addRequest` is where an agent is handed each request: Node's own (undocumented, stable since 0.x) seam.
    const withRequests = agent as unknown as AgentWithRequests;
    const addRequest = withRequests.addRequest.bind(agent);
    withRequests.addRequest = (request, requestOptions) => {
      request.once('socket', (socket) => countAnswer(request, socket, options.maxResponseBytes));
      addRequest(request, requestOptions);
    };
    return agent;
  };
  return { http: guarded(new http.Agent(agentOptions)), https: guarded(new https.Agent(agentOptions)) };
}

interface AgentWithRequests {
  addRequest(request: http.ClientRequest, options: object): void;
}

/** Fails `request`'s answer once the bytes `socket` receives for it pass `maxBytes`. */
function countAnswer(request: http.ClientRequest, socket: Duplex, maxBytes: number): void {
  let received = 0;
  let answer: http.IncomingMessage | undefined;
  const onResponse = (response: http.IncomingMessage) => (answer = response);
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= maxBytes) return;
    stop();
    const error = new ResponseTooLargeError(maxBytes);
    if (answer) answer.destroy(error);
    else request.destroy(error);
    socket.destroy(error);
  };
  const stop = () => {
    socket.off('data', onData);
    request.off('response', onResponse);
  };
  request.on('response', onResponse);
  socket.on('data', onData);
  request.once('close', stop); // the request is done with this connection (a kept-alive one goes on to the next)
}

/**
 * A Storage SDK pipeline step that sends every request through these agents (the SDK's `agent` of a request, which its
 * Node HTTP client uses in place of its own).
 */
export function guardedAgentPolicy(agents: GuardedAgents): RequestPolicyFactory {
  return {
    create: (next: RequestPolicy): RequestPolicy => ({
      sendRequest(request: WebResource) {
        request.agent = request.url.startsWith('https:') ? agents.https : agents.http;
        return next.sendRequest(request);
      },
    }),
  };
}
