// The kiosk's HTTP server: Hono app, auth, metrics.
export { createApp, type CreateAppOptions, type CreatedApp } from './app.js';
export { startServer, type RunningServer, type StartOptions } from './start.js';
export { ModelManager, finetuneCommand, type FinetuneView, type ModelsView, type ModelVersionView } from './models.js';
export { AdminAuth, DEFAULT_BACKOFF, SESSION_COOKIE, fromThisOrigin, isLoopback, requireAccess, requireAdmin, requireLocalToken, sameOriginWrites, type Backoff } from './auth.js';
export { Metrics } from './metrics.js';
export type { AppDeps, AppEnv } from './types.js';
