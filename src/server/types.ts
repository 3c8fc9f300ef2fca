// The Hono environment of the app: node-server bindings (absent under app.request() in tests)
// and per-request variables set by middleware.
import type { HttpBindings } from '@hono/node-server';
import type { AppConfig } from '../config/schema.js';
import type { FaceService } from '../service/face-service.js';
import type { AdminAuth } from './auth.js';
import type { Metrics } from './metrics.js';
import type { ModelManager } from './models.js';

export type AppEnv = {
  Bindings: Partial<HttpBindings>;
  Variables: { admin: boolean };
};

/** What the routes need; the htmx pages get the same object. */
export interface AppDeps {
  service: FaceService;
  config: AppConfig;
  auth: AdminAuth;
  metrics: Metrics;
  /** Model versions: following active.json, switching, rollback, finetune runs. */
  models: ModelManager;
}
