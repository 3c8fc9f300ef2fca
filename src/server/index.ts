// The JSON API (/api/*) and Prometheus metrics (/metrics): one HTTP adapter over FaceService,
// mounted beside the pages by src/http/app.ts. Each admin group is a sub-app under its own
// prefix with its guard at the edge (app.use), so the guard covers exactly that group's routes
// and a route added to it cannot go unguarded.
import { Hono } from 'hono';
import { sameOriginWrites } from '../http/guards.js';
import type { AppDeps, AppEnv } from '../http/types.js';
import { activityRoutes } from './routes/activity.js';
import { adminPasswordRoutes } from './routes/admin-password.js';
import { doorRoutes } from './routes/door.js';
import { enrollRoutes } from './routes/enroll.js';
import { galleryRoutes, identityRoutes } from './routes/identities.js';
import { finetuneRoutes, modelRoutes } from './routes/models.js';
import { recognitionRoutes } from './routes/recognition.js';
import { settingsRoutes } from './routes/settings.js';
import { systemRoutes } from './routes/system.js';

export function createApi(deps: AppDeps): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  // Every state-changing API call a cookie session authenticates must come from this origin.
  api.use('/api/*', sameOriginWrites(deps.auth));
  // Open, or by the access policy route by route: health, login, session, metrics, recognition.
  api.route('/', systemRoutes(deps));
  api.route('/api', recognitionRoutes(deps));
  // Admin only.
  api.route('/api/enroll', enrollRoutes(deps));
  api.route('/api/identities', identityRoutes(deps));
  api.route('/api/gallery', galleryRoutes(deps));
  api.route('/api/settings', settingsRoutes(deps));
  api.route('/api/door', doorRoutes(deps));
  api.route('/api/activity', activityRoutes(deps));
  api.route('/api/models', modelRoutes(deps));
  api.route('/api/finetune', finetuneRoutes(deps));
  // The facegate command on this machine only (its local token).
  api.route('/api/admin', adminPasswordRoutes(deps));
  return api;
}

// The API's environment, for clients and tests that type app.request() against it.
export type { AppDeps, AppEnv } from '../http/types.js';
