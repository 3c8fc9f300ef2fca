// The DNS-rebinding guard, at the edge of the app: a request is served only when its Host names
// this server. The same-origin checks (guards.ts fromThisOrigin, hono/csrf on the pages) compare
// Origin with the request's own URL, which node-server builds from the Host header; a page of
// http://attacker.example:PORT whose name is re-pointed to 127.0.0.1 and opened in the kiosk's
// browser would otherwise be this server's own origin, and a loopback peer besides.
import os from 'node:os';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppConfig } from '../config/schema.js';
import { errorJson } from './errors.js';
import type { AppEnv } from './types.js';

/**
 * host[:port] as a browser sends it: a DNS name or IPv4 address, or an IPv6 address in brackets.
 * Nothing else (userinfo, a path, a backslash) reaches new URL(), which would read past it.
 */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d*)?$/;

/** The hostname of a Host value as new URL() writes it (lower case, IPv6 bracketed and compressed), or null if malformed. */
export function hostnameOf(host: string): string | null {
  if (!HOST_VALUE.test(host)) return null;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return null;
  }
}

/** A configured name or address (no port; IPv6 with or without brackets), written as hostnameOf() writes it. */
function nameOf(name: string): string | null {
  return hostnameOf(name.includes(':') && !name.startsWith('[') ? `[${name}]` : name);
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];
/** 0.0.0.0 and :: are not names but "every address": the interfaces' addresses stand for them. */
const WILDCARD = new Set(['0.0.0.0', '[::]']);
/** new URL() turns every IPv4 form into a dotted quad, so this tells an address from a name. */
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
const LOOPBACK_V4 = /^127\.\d+\.\d+\.\d+$/;

function interfaceAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const i of list ?? []) {
      const h = nameOf(i.address);
      if (h) out.add(h);
    }
  }
  return out;
}

/** The names this server answers to: loopback, this machine's name and addresses, its bind host, config.allowedHosts. */
export class HostPolicy {
  readonly #names = new Set<string>();
  #interfaces = interfaceAddresses();

  constructor(config: Pick<AppConfig, 'host' | 'allowedHosts'>) {
    // The machine's own name (and its mDNS form): an operator's browser may use it, and an
    // attacker's DNS cannot answer for it.
    const own = os.hostname().toLowerCase();
    const ownNames = own ? [own, ...(own.includes('.') ? [] : [`${own}.local`])] : [];
    for (const n of [...LOOPBACK, ...ownNames, config.host, ...config.allowedHosts]) {
      const h = nameOf(n);
      if (h && !WILDCARD.has(h)) this.#names.add(h);
    }
  }

  allows(hostname: string): boolean {
    if (this.#names.has(hostname) || LOOPBACK_V4.test(hostname) || this.#interfaces.has(hostname)) return true;
    // Only an address can be one of this machine's; re-read them on a miss, since a DHCP lease
    // may change while the kiosk runs. Names never get here: they are what rebinding uses.
    if (!IPV4.test(hostname) && !hostname.startsWith('[')) return false;
    this.#interfaces = interfaceAddresses();
    return this.#interfaces.has(hostname);
  }
}

function refuse(c: Context, what: string): Response {
  return errorJson(
    c,
    403,
    'host_not_allowed',
    `${what} (a guard against DNS rebinding). This server answers to localhost, 127.0.0.1, ::1, this machine's name, its listen address and this machine's own addresses; to reach it under another name, add the name to allowedHosts in the config file (or FACEGATE_ALLOWED_HOSTS, comma-separated) and restart`,
  );
}

/**
 * Refuses (403) a request whose Host is not one of the policy's names, before any session, body
 * or route. The port may be anything. Over a socket the Host header is required (HTTP/1.1 makes
 * it so, and node-server would otherwise put the listen address in the URL); app.request() in
 * tests has no socket (or a stand-in without headers), and its URL is its host. The URL is checked
 * too: an absolute request target sets it whatever the Host header says.
 */
export function allowedHostsOnly(config: Pick<AppConfig, 'host' | 'allowedHosts'>): MiddlewareHandler<AppEnv> {
  const policy = new HostPolicy(config);
  return async (c, next) => {
    const header = c.req.header('host');
    if (header === undefined && c.env?.incoming?.headers !== undefined) return refuse(c, 'no Host header');
    for (const host of [header, new URL(c.req.url).host]) {
      if (host === undefined) continue;
      const name = hostnameOf(host);
      if (name === null) return refuse(c, 'malformed Host header');
      if (!policy.allows(name)) return refuse(c, `Host ${name} is not a name this server answers to`);
    }
    await next();
  };
}
