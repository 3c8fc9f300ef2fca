// The kiosk's HTTP server: Hono app, auth, metrics.
export { createApp, type CreateAppOptions } from './app.js';
export { startServer, type RunningServer } from './start.js';
export { AdminAuth, SESSION_COOKIE, isLoopback, requireAccess, requireAdmin } from './auth.js';
export { Metrics } from './metrics.js';
export type { AppDeps, AppEnv } from './types.js';
