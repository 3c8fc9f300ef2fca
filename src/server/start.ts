// Starts the kiosk server: service (model + gallery), admin credentials, Hono app on
// @hono/node-server. Starts without a model too: health says so and recognition answers 503.
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { resolveAdminCredentials, type AdminCredentials } from '../config/admin-store.js';
import type { AppConfig } from '../config/schema.js';
import { FaceService } from '../service/face-service.js';
import { createApp } from './app.js';
import type { ModelManager, ModelManagerOptions } from './models.js';

export interface RunningServer {
  url: string;
  port: number;
  server: ServerType;
  service: FaceService;
  admin: AdminCredentials;
  /** Model versions: following active.json, switching, finetune runs. */
  models: ModelManager;
  /** Stops accepting connections, waits for open requests, then closes the gallery and model. */
  close(): Promise<void>;
}

export interface StartOptions {
  quiet?: boolean;
  /** The --config file, handed on to a finetune started from the server. */
  configFile?: string;
  /** Model versions (active.json polling interval, finetune command): tests. */
  models?: ModelManagerOptions;
}

export async function startServer(config: AppConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const admin = await resolveAdminCredentials(config);
  const service = await FaceService.open(config, { quiet: opts.quiet });
  const { app, deps, close: closeApp } = createApp({ service, config, admin, models: { configFile: opts.configFile, ...opts.models } });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', reject);
  }).catch(async (err) => {
    await closeApp();
    await service.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    service,
    admin,
    models: deps.models,
    close: () =>
      (closing ??= (async () => {
        // Camera loops, kiosk event streams and the active.json watcher first: an open SSE stream would hold server.close().
        await closeApp();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        await closed;
        await service.close();
      })()),
  };
}
