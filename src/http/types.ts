// The Hono environment of the app: node-server bindings (absent under app.request() in tests)
// and per-request variables set by middleware. The API and the pages share it, so the same
// guards and the same `admin` variable work in both.
import type { HttpBindings } from '@hono/node-server';
import type { AppConfig } from '../config/schema.js';
import type { ModelManager } from '../model/manager.js';
import type { DoorSite } from '../door/index.js';
import type { FaceService } from '../service/face-service.js';
import type { AdminAuth } from './auth.js';
import type { Metrics } from './metrics.js';

export type AppEnv = {
  Bindings: Partial<HttpBindings>;
  Variables: { admin: boolean };
};

/** What the routes need: the API and the pages get the same object. */
export interface AppDeps {
  service: FaceService;
  config: AppConfig;
  auth: AdminAuth;
  metrics: Metrics;
  /** Model versions: following active.json, switching, rollback, finetune runs. */
  models: ModelManager;
  /** The kiosk stations, the server camera and the door hardware. */
  site: DoorSite;
}
