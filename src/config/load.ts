// Builds the AppConfig from, lowest precedence first: defaults, a JSON config file
// (FACEGATE_CONFIG or --config), FACEGATE_* environment variables, then explicit overrides
// (CLI flags). Relative paths are resolved where they were written: against the config file's
// folder for the file, against the working directory for env vars and flags.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AppConfigSchema, type AppConfig } from './schema.js';
import { ModelRegistry, ModelRegistryError } from '../model/registry.js';

/** The repository root: defaults point into it so `npm start` works from any working directory. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODELS_ROOT = path.join(PROJECT_ROOT, 'models');
export const DEFAULT_MODEL_DIR = path.join(MODELS_ROOT, 'facegate-default');
export const DEFAULT_GALLERY_DIR = path.join(PROJECT_ROOT, 'enrolled');

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Layer = Record<string, unknown>;

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** JSON config file; defaults to $FACEGATE_CONFIG. */
  file?: string;
  /** Highest precedence (CLI flags); undefined values are ignored. */
  overrides?: Layer;
}

const PATH_KEYS = ['modelDir', 'modelsDir', 'galleryDir', 'adminFile'] as const;

function isObject(v: unknown): v is Layer {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Layer, over: Layer): Layer {
  const out: Layer = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Layer, v) : v;
  }
  return out;
}

function resolvePaths(layer: Layer, against: string): Layer {
  const out = { ...layer };
  for (const k of PATH_KEYS) if (typeof out[k] === 'string') out[k] = path.resolve(against, out[k] as string);
  return out;
}

function readFileLayer(file: string): Layer {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  return resolvePaths(raw, path.dirname(path.resolve(file)));
}

/** FACEGATE_* variables -> a config layer. Values are checked by the schema afterwards. */
function envLayer(env: NodeJS.ProcessEnv): Layer {
  const get = (name: string) => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const num = (name: string) => {
    const v = get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got "${v}"`);
    return n;
  };
  const bool = (name: string) => {
    const v = get(name)?.toLowerCase();
    if (v === undefined) return undefined;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(`${name} must be true or false, got "${v}"`);
  };
  const list = (name: string) =>
    get(name)
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const layer: Layer = {
    port: num('FACEGATE_PORT'),
    host: get('FACEGATE_HOST'),
    allowedHosts: list('FACEGATE_ALLOWED_HOSTS'),
    modelDir: get('FACEGATE_MODEL_DIR'),
    modelsDir: get('FACEGATE_MODELS_DIR'),
    galleryDir: get('FACEGATE_GALLERY_DIR'),
    adminFile: get('FACEGATE_ADMIN_FILE'),
    adminPasswordHash: get('FACEGATE_ADMIN_PASSWORD_HASH'),
    access: { recognition: get('FACEGATE_RECOGNITION_ACCESS'), metrics: get('FACEGATE_METRICS_ACCESS') },
    session: { secureCookie: bool('FACEGATE_SECURE_COOKIE') },
    limits: { maxImageBytes: num('FACEGATE_MAX_IMAGE_BYTES'), maxPixels: num('FACEGATE_MAX_PIXELS') },
    enroll: { minSamples: num('FACEGATE_ENROLL_MIN_SAMPLES') },
    detector: get('FACEGATE_DETECTOR'),
    logDecisions: bool('FACEGATE_LOG_DECISIONS'),
    workers: get('FACEGATE_WORKERS')?.toLowerCase() === 'auto' ? 'auto' : num('FACEGATE_WORKERS'),
    threads: get('FACEGATE_THREADS')?.toLowerCase() === 'auto' ? 'auto' : num('FACEGATE_THREADS'),
  };
  return resolvePaths(layer, process.cwd());
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

export function loadConfig(opts: LoadConfigOptions = {}): AppConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.FACEGATE_CONFIG?.trim() || undefined);
  let layer: Layer = { galleryDir: DEFAULT_GALLERY_DIR };
  if (file) layer = merge(layer, readFileLayer(file));
  layer = merge(layer, envLayer(env));
  if (opts.overrides) layer = merge(layer, resolvePaths(opts.overrides, process.cwd()));
  // No model folder given anywhere: run the active version of models/ (models/active.json, written
  // by finetune and `facegate model use|rollback`), and let the server follow it.
  if (layer.modelDir === undefined) {
    const registry = new ModelRegistry(typeof layer.modelsDir === 'string' ? layer.modelsDir : MODELS_ROOT);
    try {
      layer = { ...layer, modelDir: registry.activeDir(), modelsDir: registry.root };
    } catch (err) {
      if (err instanceof ModelRegistryError) throw new ConfigError(err.message);
      throw err;
    }
  } else {
    layer = { ...layer, modelsDir: null };
  }
  const r = AppConfigSchema.safeParse(layer);
  if (!r.success) throw new ConfigError(`invalid configuration: ${describe(r.error)}`);
  return r.data;
}

/** Where the admin password hash and session secret are kept. */
export function adminFilePath(config: AppConfig): string {
  return config.adminFile ?? path.join(config.galleryDir, 'admin.json');
}
