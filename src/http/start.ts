// Starts the kiosk server: service (model + gallery), admin credentials, Hono app on
// @hono/node-server. Starts without a model too: health says so and recognition answers 503.
// The server owns its gallery while it runs (src/owner): it takes the gallery's lock before
// reading anything (a second server on the same gallery is refused), then publishes a loopback
// URL and a fresh local admin token there, through which the CLI sends its gallery writes.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { claimForServer, type ServerOwnership } from '../owner/owner.js';
import { resolveAdminCredentials, type AdminCredentials } from '../config/admin-store.js';
import type { AppConfig } from '../config/schema.js';
import { FaceService } from '../service/face-service.js';
import { createApp } from './app.js';
import type { ModelManager, ModelManagerOptions } from '../model/manager.js';
import { isLoopback } from './auth.js';

export interface RunningServer {
  url: string;
  port: number;
  server: ServerType;
  service: FaceService;
  admin: AdminCredentials;
  /** Model versions: following active.json, switching, finetune runs. */
  models: ModelManager;
  /** The gallery's lock, held until close(). */
  owner: ServerOwnership;
  /** Where the CLI on this machine reaches the server (the listening address, or a loopback one beside it). */
  localUrl: string;
  /** Stops accepting connections, waits for open requests, closes the gallery and model, then releases the gallery. */
  close(): Promise<void>;
}

export { SERVER_NODE_FLAGS } from './node-flags.js';

export interface StartOptions {
  quiet?: boolean;
  /** The --config file, handed on to a finetune started from the server. */
  configFile?: string;
  /** Model versions (active.json polling interval, finetune command): tests. */
  models?: ModelManagerOptions;
  /** How long to wait for a CLI command that holds the gallery (default 10 min). */
  ownerWaitMs?: number;
  /**
   * Where inference runs when the config leaves it unset (config.workers, config.threads):
   * `facegate serve` passes 'auto' for both (workers for load, every core for a lone request);
   * default in-process on one thread (tests start quickly and side by side).
   */
  workers?: number | 'auto';
  threads?: number | 'auto';
}

/** A loopback URL that reaches a server listening on `a`, or null when it listens on one outside address only. */
function loopbackUrl({ address, port }: AddressInfo): string | null {
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : isLoopback(address) ? address : null;
  return host === null ? null : `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function listen(fetch: Parameters<typeof serve>[0]['fetch'], port: number, hostname: string): Promise<ServerType> {
  return new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch, port, hostname }, () => resolve(s));
    s.once('error', reject);
  });
}

function closeServer(server: ServerType): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  if ('closeIdleConnections' in server) server.closeIdleConnections();
  return closed;
}

export async function startServer(config: AppConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const owner = await claimForServer(config.galleryDir, { waitMs: opts.ownerWaitMs, say: opts.quiet ? undefined : (l) => console.error(`[facegate] ${l}`) });
  let service: FaceService | undefined;
  let created: ReturnType<typeof createApp> | undefined;
  const servers: ServerType[] = [];
  try {
    const admin = await resolveAdminCredentials(config);
    service = await FaceService.open(config, { quiet: opts.quiet, workers: opts.workers, threads: opts.threads });
    service.decisions.trail.startRetention(); // audit-trail retention purge, hourly until the service closes (docs/audit-trail.md)
    created = createApp({ service, config, admin, models: { configFile: opts.configFile, ...opts.models } });
    const { app } = created;
    servers.push(await listen(app.fetch, config.port, config.host));
    const address = servers[0]!.address() as AddressInfo;
    // The CLI's way in must be a loopback address (the local token is refused from any other):
    // a server bound to one outside address gets a second listener on 127.0.0.1 for it.
    let localUrl = loopbackUrl(address);
    if (!localUrl) {
      servers.push(await listen(app.fetch, 0, '127.0.0.1'));
      localUrl = loopbackUrl(servers[1]!.address() as AddressInfo)!;
    }
    created.deps.auth.acceptLocalToken(await owner.publish(localUrl));
    const port = address.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const { deps, close: closeApp } = created;
    const svc = service;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}`,
      port,
      server: servers[0]!,
      service: svc,
      admin,
      models: deps.models,
      owner,
      localUrl,
      close: () =>
        (closing ??= (async () => {
          try {
            // Camera loops, kiosk event streams and the active.json watcher first: an open SSE stream would hold server.close().
            await closeApp();
            await Promise.all(servers.map(closeServer));
            await svc.close();
          } finally {
            await owner.release();
          }
        })()),
    };
  } catch (err) {
    try {
      await Promise.all(servers.map(closeServer));
      await created?.close();
      await service?.close();
    } finally {
      await owner.release();
    }
    throw err;
  }
}
