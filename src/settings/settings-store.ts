// settings.json under the gallery folder: read synchronously by everyone (the door reads them on
// every frame), written one patch at a time. Memory changes only after the file write succeeded.
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';
import { AtomicJsonFile, listBackups, nodeIo, readJsonFile, type BackupInfo, type FileIo } from '../gallery/atomic-file.js';
import { GalleryError } from '../gallery/errors.js';
import { parseFile, parseWith } from '../gallery/validate.js';
import { SettingsFileSchema, SettingsSchema, type Settings, type SettingsFile, type SettingsPatch } from './schema.js';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else (including arrays and null) replaces. */
function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) out[k] = deepMerge(base[k], v);
  return out;
}

const SETTINGS_BACKUPS = 3;
const parseSettingsFile = (raw: unknown, file: string): SettingsFile => parseFile(SettingsFileSchema, raw, file, 'settings');

export class SettingsStore {
  readonly file: string;
  readonly #adapter: AtomicJsonFile<SettingsFile>;
  #settings: Settings = SettingsSchema.parse({});
  #queue: Promise<unknown> = Promise.resolve();
  #revision = 0;

  private constructor(dir: string, io: FileIo) {
    this.file = path.join(dir, 'settings.json');
    // Rotating backups settings.json.bak.1..3 (they hold no personal data: nothing to erase in them).
    this.#adapter = new AtomicJsonFile(this.file, parseSettingsFile, io, { backups: SETTINGS_BACKUPS, fresh: 'the default settings' });
  }

  /** Checks a file (a backup of settings.json, before it is restored) as open() would read it. */
  static async checkFile(file: string): Promise<void> {
    await readJsonFile(file, parseSettingsFile);
  }

  /** The rotating backups of settings.json in `dir` that exist, newest first, each checked. */
  static listBackups(dir: string): Promise<BackupInfo[]> {
    return listBackups(path.join(path.resolve(dir), 'settings.json'), SETTINGS_BACKUPS, parseSettingsFile);
  }

  /**
   * Opens settings.json in `dir`; a missing file is created from `initial` (the settings an older
   * gallery.json carried) or the defaults. CORRUPT on an invalid file, which is never overwritten.
   */
  static async open(dir: string, opts: { io?: FileIo; initial?: unknown } = {}): Promise<SettingsStore> {
    const s = new SettingsStore(dir, opts.io ?? nodeIo);
    const found = await s.#adapter.read();
    if (found) s.#settings = found.settings;
    else await s.#write(parseWith(SettingsSchema, opts.initial ?? {}, 'settings'));
    return s;
  }

  /** Increments on every change. */
  get revision(): number {
    return this.#revision;
  }

  get(): Settings {
    return structuredClone(this.#settings);
  }

  /** Deep-merges the patch and validates the result (unknown keys are errors). A patch that changes nothing writes nothing. */
  update(patch: SettingsPatch): Promise<Settings> {
    return this.#exclusive(async () => {
      if (!isPlainObject(patch)) throw new GalleryError('INVALID_INPUT', 'settings patch must be an object');
      const next = parseWith(SettingsSchema, deepMerge(this.#settings, patch), 'settings');
      if (!isDeepStrictEqual(next, this.#settings)) await this.#write(next);
      return structuredClone(next);
    });
  }

  /** Re-reads the file (another process may have changed it). */
  reload(): Promise<void> {
    return this.#exclusive(async () => {
      const found = await this.#adapter.read();
      if (found && !isDeepStrictEqual(found.settings, this.#settings)) {
        this.#settings = found.settings;
        this.#revision++;
      }
    });
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => {});
  }

  async #write(settings: Settings): Promise<void> {
    await this.#adapter.write({ format: 'facegate-settings', version: 1, settings });
    this.#settings = settings;
    this.#revision++;
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
