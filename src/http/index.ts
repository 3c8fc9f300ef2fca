// The kiosk's HTTP server: the composed app (API + pages), its start, and what both adapters share.
export { createApp, type CreateAppOptions, type CreatedApp } from './app.js';
export { startServer, type RunningServer, type StartOptions } from './start.js';
export { ModelManager, finetuneCommand, type FinetuneView, type ModelsView, type ModelVersionView } from '../model/manager.js';
export { AdminAuth, DEFAULT_BACKOFF, SESSION_COOKIE, isLoopback, remoteAddress, type Backoff } from './auth.js';
export { fromThisOrigin, requireAccess, requireAdmin, requireLocalToken, sameOriginWrites } from './guards.js';
export { statusOf } from './status.js';
export { Metrics } from './metrics.js';
export type { AppDeps, AppEnv } from './types.js';
