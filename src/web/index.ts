// The server-rendered pages: kiosk (/), login, and the admin pages under /admin, with their
// static files. One HTTP adapter over FaceService, mounted beside the API by src/http/app.ts with
// the same deps (FaceService, sessions, config, metrics).
import { Hono } from 'hono';
import type { AppDeps } from '../http/types.js';
import { CameraHub, KioskStation, KioskStations, type JudgeOptions } from '../door/index.js';
import { contentSecurityPolicy } from './csp.js';
import { csrfToken } from './csrf.js';
import { activityRoutes } from './routes/activity.js';
import { enrollRoutes } from './routes/enroll.js';
import { galleryRoutes } from './routes/gallery.js';
import { kioskRoutes } from './routes/kiosk.js';
import { loginRoutes } from './routes/login.js';
import { modelRoutes } from './routes/model.js';
import { requireAdminPage } from './page-auth.js';
import { settingsRoutes } from './routes/settings.js';
import { staticRoutes } from './static-files.js';
import type { WebEnv } from './types.js';

export interface WebOptions {
  /** Kiosk decision timing (cooldown after a decision, how long votes count). */
  judge?: Partial<JudgeOptions>;
  /** Pause between frames the kiosk page posts, ms (default 150; it also waits for each answer). */
  frameIntervalMs?: number;
  /** SSE streams end after this and the browser reconnects (default 20 s). */
  sseMaxMs?: number;
  /** Retry delay of a missing server camera (default 3 s). */
  cameraRetryMs?: number;
}

export interface Web {
  app: Hono<WebEnv>;
  hub: CameraHub;
  stations: KioskStations;
}

/** Paths of the pages (static files need neither CSP nor CSRF cookie); the API keeps /api and /metrics. '/admin/*' matches /admin too. */
const PAGE_PATHS = ['/', '/login', '/logout', '/kiosk/*', '/admin/*'];

export function createWeb(deps: AppDeps, opts: WebOptions = {}): Web {
  const { auth, config } = deps;
  const { hub, stations } = deps.site;
  const app = new Hono<WebEnv>();
  for (const p of PAGE_PATHS) {
    app.use(p, contentSecurityPolicy());
    app.use(p, csrfToken(() => auth.opts.secret, config.session.secureCookie));
  }
  app.route('/', staticRoutes());
  app.route('/', kioskRoutes(deps, { hub, stations, frameIntervalMs: opts.frameIntervalMs ?? 150, sseMaxMs: opts.sseMaxMs ?? 20_000 }));
  app.route('/', loginRoutes(deps));
  app.route('/admin', adminPages(deps, hub));
  return { app, hub, stations };
}

/**
 * Everything under /admin, /admin itself included, behind one guard at its edge: a page added
 * here cannot forget it. Login, logout and the kiosk stay outside.
 */
function adminPages(deps: AppDeps, hub: CameraHub): Hono<WebEnv> {
  const admin = new Hono<WebEnv>();
  admin.use('*', requireAdminPage(deps.auth));
  admin.get('/', (c) => c.redirect('/admin/gallery', 303));
  admin.route('/', enrollRoutes(deps, { hub }));
  admin.route('/', galleryRoutes(deps));
  admin.route('/', settingsRoutes(deps));
  admin.route('/', activityRoutes(deps));
  admin.route('/', modelRoutes(deps));
  return admin;
}

export { CONTENT_SECURITY_POLICY } from './csp.js';
export { CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER } from './csrf.js';
