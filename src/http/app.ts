// The one place the HTTP adapters meet: builds the shared dependencies (sessions, metrics, model
// versions) and mounts the JSON API (src/server) and the pages (src/web) side by side on one
// Hono app, with security headers, request metrics and the error mapping at the edge. Built from
// explicit dependencies so tests drive it with app.request().
import * as tf from '@tensorflow/tfjs-core';
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { AppConfig } from '../config/schema.js';
import { DoorSite } from '../door/index.js';
import { ModelManager, type ModelManagerOptions } from '../model/manager.js';
import type { FaceService } from '../service/face-service.js';
import { createApi } from '../server/index.js';
import { createWeb, type Web, type WebOptions } from '../web/index.js';
import { AdminAuth, type Backoff } from './auth.js';
import { notFound, onError } from './errors.js';
import { allowedHostsOnly } from './host-check.js';
import { Metrics, requestMetrics, type Gauge } from './metrics.js';
import type { AppDeps, AppEnv } from './types.js';

export interface CreateAppOptions {
  service: FaceService;
  config: AppConfig;
  /** Admin password hash (null: admin routes locked), the cookie-signing secret, and login throttling (DEFAULT_BACKOFF). */
  admin: { passwordHash: string | null; sessionSecret: string; backoff?: Partial<Backoff> };
  /** The server-rendered pages (src/web); on by default. */
  web?: WebOptions | false;
  /** Model versions (active.json polling, the finetune command, the --config file handed on to it). */
  models?: ModelManagerOptions;
}

export interface CreatedApp {
  app: Hono<AppEnv>;
  deps: AppDeps;
  web: Web | null;
  /** Stops following active.json and the server camera; the service is the caller's to close. */
  close(): Promise<void>;
}

function gaugesOf(service: FaceService): () => Gauge[] {
  return () => {
    const h = service.health();
    return [
      { name: 'facegate_model_loaded', help: 'Whether a face model is loaded (1) or not (0).', values: [{ labels: { model: h.model.id ?? '' }, value: h.model.loaded ? 1 : 0 }] },
      { name: 'facegate_gallery_identities', help: 'Enrolled identities.', values: [{ value: h.gallery.identities }] },
      { name: 'facegate_gallery_templates', help: 'Templates under the loaded model.', values: [{ value: h.gallery.templates }] },
      { name: 'facegate_gallery_need_enrollment', help: 'Enrolled people the loaded model has no template for and no stored crop to re-embed: they must enrol again.', values: [{ value: h.gallery.needEnrollment }] },
      { name: 'facegate_inference_queue_depth', help: 'Requests waiting for or running on the model.', values: [{ value: h.queue }] },
      { name: 'facegate_tensors', help: 'Live TensorFlow.js tensors (steady unless something leaks).', values: [{ value: tf.memory().numTensors }] },
      { name: 'facegate_decision_log_backlog', help: 'Decisions waiting to be written to the activity log.', values: [{ value: service.decisions.backlog }] },
      { name: 'facegate_decision_log_dropped_total', help: 'Decisions not logged because the backlog was full (a disk far too slow).', values: [{ value: service.decisions.dropped }] },
      { name: 'facegate_uptime_seconds', help: 'Seconds since the service started.', values: [{ value: h.uptimeSeconds }] },
      { name: 'process_resident_memory_bytes', help: 'Resident memory of the process.', values: [{ value: process.memoryUsage().rss }] },
    ];
  };
}

export function createApp(opts: CreateAppOptions): CreatedApp {
  const { service, config } = opts;
  const auth = new AdminAuth({
    passwordHash: opts.admin.passwordHash,
    secret: opts.admin.sessionSecret,
    ttlMs: config.session.ttlHours * 3600 * 1000,
    secureCookie: config.session.secureCookie,
    backoff: opts.admin.backoff,
  });
  const metrics = new Metrics(gaugesOf(service));
  const models = new ModelManager(service, config, opts.models);
  const web = opts.web === false ? null : opts.web;
  const site = new DoorSite({
    door: service.door,
    settings: () => service.getSettings(),
    doorSettings: () => service.doorSettings(),
    modelError: () => (service.slot.loaded ? null : service.slot.reason),
    onVerdict: (v) => metrics.decisions.inc({ endpoint: 'kiosk', decision: v.kind }),
    onOutcome: (o) => service.logDoorOutcome(o),
    judge: web?.judge,
    cameraRetryMs: web?.cameraRetryMs,
  });
  const deps: AppDeps = { service, config, auth, metrics, models, site };

  const app = new Hono<AppEnv>();
  app.use('*', secureHeaders());
  app.use('*', requestMetrics(metrics));
  // Every route, before any session, body or page: a Host this server does not answer to is DNS rebinding.
  app.use('*', allowedHostsOnly(config));
  app.route('/', createApi(deps));
  const pages = web === null ? null : createWeb(deps, web);
  if (pages) app.route('/', pages.app);
  app.notFound(notFound);
  app.onError(onError);
  // Following active.json (when the model is not pinned) starts with the app.
  models.start();
  return {
    app,
    deps,
    web: pages,
    close: async () => {
      await models.close();
      await site.close();
    },
  };
}
