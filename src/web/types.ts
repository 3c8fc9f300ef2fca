// The pages run in the API's Hono environment (same bindings, same `admin` variable), so the
// API's guards (requireAccess, remoteAddress) apply unchanged.
import type { AppEnv } from '../server/types.js';

export type WebEnv = AppEnv;
