// App configuration: paths, port, access policy, limits, admin credentials.
export { AppConfigSchema, AccessSchema, PASSWORD_HASH, type Access, type AppConfig, type AppConfigInput } from './schema.js';
export { ConfigError, DEFAULT_GALLERY_DIR, DEFAULT_MODEL_DIR, MODELS_ROOT, PROJECT_ROOT, adminFilePath, loadConfig, type LoadConfigOptions } from './load.js';
export { MIN_PASSWORD_LENGTH, hashPassword, passwordProblem, verifyPassword } from './password.js';
export { AdminStore, resolveAdminCredentials, type AdminCredentials } from './admin-store.js';
