// The pages run in the API's Hono environment (same bindings, same `admin` variable, src/http),
// so the shared guards (requireAccess, remoteAddress) apply unchanged.
import type { AppEnv } from '../http/types.js';

export type WebEnv = AppEnv;
