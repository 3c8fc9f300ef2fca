// The kiosk's own configuration (not the gallery's matching settings, which live in gallery.json
// and are edited through /api/settings). Strict: a misspelt key in a config file is an error.
import { isIPv6 } from 'node:net';
import { z } from 'zod';

/** Who may call verify / identify / metrics without logging in. */
export const AccessSchema = z.enum(['localhost', 'any', 'admin']);
export type Access = z.output<typeof AccessSchema>;

/** scrypt$N$r$p$salt$hash, as written by hashPassword(). */
export const PASSWORD_HASH = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+$/;

const MB = 1024 * 1024;

/** A DNS name, an IPv4 address, or an IPv6 address with or without brackets; no scheme, no port. */
const HostName = z
  .string()
  .trim()
  .toLowerCase()
  .refine((h) => /^[a-z0-9._-]+$/.test(h) || isIPv6(h.replace(/^\[(.*)\]$/, '$1')), 'a host name or IP address, without scheme or port');

export const AppConfigSchema = z.strictObject({
  port: z.int().min(0).max(65535).default(3000),
  /** Loopback by default: the kiosk's browser runs on the same machine. */
  host: z.string().min(1).max(255).default('127.0.0.1'),
  /**
   * Names (or addresses) the server also answers to, besides loopback, `host` and this machine's
   * own addresses: a request with any other Host is refused (src/http/host-check.ts), since a
   * name an attacker re-points at the kiosk (DNS rebinding) would otherwise pass as this origin.
   */
  allowedHosts: z.array(HostName).max(100).default([]),
  /** Model folder (model.json + weights.bin + meta.json). */
  modelDir: z.string().min(1),
  /**
   * The models folder whose active.json chose modelDir, when no model folder was configured; the
   * server then follows that file (finetune promotions, `facegate model use|rollback`). Null when
   * modelDir was set explicitly: that model is pinned.
   */
  modelsDir: z.string().min(1).nullable().default(null),
  /** Gallery folder (gallery.json, activity.json, faces/). */
  galleryDir: z.string().min(1),
  /** Admin password hash and cookie-signing secret; default <galleryDir>/admin.json. */
  adminFile: z.string().min(1).nullable().default(null),
  /** A fixed admin password hash (from a config file or FACEGATE_ADMIN_PASSWORD_HASH) overrides the stored one. */
  adminPasswordHash: z.string().regex(PASSWORD_HASH, 'adminPasswordHash must be a scrypt$N$r$p$salt$hash string').nullable().default(null),
  access: z
    .strictObject({
      recognition: AccessSchema.default('localhost'),
      metrics: AccessSchema.default('localhost'),
    })
    .prefault({}),
  session: z
    .strictObject({
      ttlHours: z.number().positive().max(24 * 30).default(12),
      /** Mark the cookie Secure (set when the kiosk is served over HTTPS). */
      secureCookie: z.boolean().default(false),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Encoded bytes of one uploaded image. */
      maxImageBytes: z.int().min(1024).max(100 * MB).default(10 * MB),
      /** Decoded width x height, checked on the header before any pixel is decoded. */
      maxPixels: z.int().min(10_000).max(100_000_000).default(16_000_000),
      maxEnrollImages: z.int().min(1).max(50).default(10),
      /** Bodies of JSON routes (login, settings, identity patches). */
      maxJsonBytes: z.int().min(1024).max(MB).default(64 * 1024),
      /** Requests waiting for the model beyond this are refused with 503 (a stuck camera loop must not pile up). */
      maxQueue: z.int().min(1).max(1000).default(16),
    })
    .prefault({}),
  enroll: z
    .strictObject({
      /** Good samples (face found, quality passed) needed to enrol. */
      minSamples: z.int().min(1).max(20).default(3),
      /** Templates kept per enrollment: the most diverse of the good samples. */
      maxTemplates: z.int().min(1).max(20).default(5),
    })
    .prefault({})
    .refine((e) => e.maxTemplates >= e.minSamples, 'enroll.maxTemplates must be at least enroll.minSamples'),
  detector: z.enum(['fast', 'accurate']).default('fast'),
  /** Overrides of the vision quality gate (src/vision/quality.ts DEFAULT_QUALITY_CONFIG). */
  quality: z
    .strictObject({
      minFaceSize: z.number().min(8).optional(),
      maxOutside: z.number().min(0).max(1).optional(),
      maxYawDeg: z.number().min(0).max(90).optional(),
      maxRollDeg: z.number().min(0).max(180).optional(),
      minBrightness: z.number().min(0).max(255).optional(),
      maxBrightness: z.number().min(0).max(255).optional(),
      minContrast: z.number().min(0).optional(),
      minSharpness: z.number().min(0).optional(),
      otherFaceRatio: z.number().min(0).optional(),
    })
    .prefault({}),
  /** Write granted / denied verifications to the gallery's activity log. */
  logDecisions: z.boolean().default(true),
  /**
   * Inference worker threads (each with its own WASM backend, detector and model copy): 0 runs
   * inference in-process, 'auto' one per core (os.availableParallelism(), at most 4). Unset (null):
   * the server uses 'auto', the CLI and library callers in-process (quick to start).
   */
  workers: z.union([z.literal('auto'), z.int().min(0).max(32)]).nullable().default(null),
  /**
   * Threads of the main thread's WASM kernels (engine/wasm-threads.ts): what a lone request uses,
   * in-process or when the inference workers are idle. 'auto' one per core (at most 4). Unset
   * (null): the server uses 'auto', the CLI and library callers 1.
   */
  // At most 8: the threaded build starts 8 pthread workers (engine/wasm-threads.ts).
  threads: z.union([z.literal('auto'), z.int().min(1).max(8)]).nullable().default(null),
});

export type AppConfig = z.output<typeof AppConfigSchema>;
export type AppConfigInput = z.input<typeof AppConfigSchema>;
