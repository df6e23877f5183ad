import net from 'node:net';

/** The setting that names the address the local host listens on (`--host` of `npm run serve` / `npm start` sets it too). */
export const LISTEN_ADDRESS_SETTING = 'LOCAL_HOST_ADDRESS';

/**
 * This machine only. The local host has no authentication of its own (`/admin/functions/*`), and
 * its upstream proxy reaches services that listen on localhost only: nothing another machine
 * should reach unless the developer says so.
 */
export const DEFAULT_LISTEN_ADDRESS = '127.0.0.1';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * The address a setting names (blank: 127.0.0.1): an IPv4 or IPv6 address, brackets allowed
 * (`[::1]`). A host name is refused: `localhost` may resolve to ::1 on one machine and 127.0.0.1
 * on the next, and any other name to an address nobody meant. Anything else stops the host at
 * start with a message naming `source`.
 */
export function readListenAddress(value: string | undefined, source: string = LISTEN_ADDRESS_SETTING): string {
  const text = value?.trim();
  if (!text) return DEFAULT_LISTEN_ADDRESS;
  const address = text.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(address) === 0) {
    throw new Error(
      `${source} must be an IP address to listen on: 127.0.0.1 (this machine only, the default), ` +
        `0.0.0.0 (every interface) or one interface's address (got "${text}")`,
    );
  }
  return address;
}

/** 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z): only this machine can connect. */
export function isLoopback(address: string): boolean {
  return LOOPBACK.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}

/** 0.0.0.0 or :: — every interface of the machine. */
export function isEveryInterface(address: string): boolean {
  return net.isIPv6(address) ? /^[0:]+$/.test(address) : address === '0.0.0.0';
}

/** The address as a URL's host: IPv6 in brackets. */
export function urlHost(address: string): string {
  return net.isIPv6(address) ? `[${address}]` : address;
}

/** A host a URL on this machine can use to reach a server listening on `address` (0.0.0.0 is no destination). */
export function localUrlHost(address: string): string {
  if (!isEveryInterface(address)) return urlHost(address);
  return net.isIPv6(address) ? '[::1]' : '127.0.0.1';
}

/**
 * What a developer must read before anyone else can reach the local host: the lines to print
 * when it listens on an address other than loopback, or undefined on loopback.
 */
export function exposureWarning(options: {
  address: string;
  port: number;
  /** `--host` or LOCAL_HOST_ADDRESS. */
  source: string;
  upstream?: URL;
}): string[] | undefined {
  const { address, port, source, upstream } = options;
  if (isLoopback(address)) return undefined;
  const where = isEveryInterface(address) ? 'every network interface' : 'a network interface, not loopback';
  return [
    `WARNING: ${source} ${address}: listening on ${where}. Anyone who can reach this machine on port ${port} can:`,
    '  - POST /admin/functions/* (no authentication: it runs the cleanup now, as under func start);',
    "  - call every function with a token signed by JWT_SECRET_KEY (local.settings.example.json's is public);",
    ...(upstream
      ? [
          `  - reach ${upstream.href.replace(/\/$/, '')} through the upstream proxy (KHIPU_CLOUD_API_URL), as if from this machine.`,
        ]
      : []),
    `  Listen on ${DEFAULT_LISTEN_ADDRESS} (the default) unless another machine must call this one.`,
  ];
}
