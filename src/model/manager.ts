// Model versions at runtime: which folder under models/ is active (models/active.json, see
// registry.ts beside this file), following that file while the server runs, switching and rolling back
// from the API and the Model page, and starting a finetune as a child process.
//
// Following: when the configuration did not pin a model folder (config.modelsDir set), the server
// polls active.json (fs.watchFile: robust to the atomic rename that replaces it) and switches the
// service to whatever it names; a finetune promotion or `facegate model use` in another process
// thus takes effect within about a second, without a restart. With --model / FACEGATE_MODEL_DIR
// the model is pinned: versions are listed, but switching is refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AppConfig } from '../config/schema.js';
import { PROJECT_ROOT } from '../config/load.js';
import { finetuneDir, isStale, readFinetuneStatus, writeFinetuneStatus, type FinetuneStatus } from '../finetune/status.js';
import { ModelRegistry, ModelRegistryError, isModelFolderName } from './registry.js';
import { modelIdOf } from '../service/embedder.js';
import { ServiceError } from '../service/errors.js';
import type { FaceService } from '../service/face-service.js';
import type { ModelSwitchOutcome } from '../service/types.js';
import { listModelVersions } from './versions.js';

export interface ModelVersionView {
  folder: string;
  dir: string;
  /** name@version from meta.json (null without a readable meta.json). */
  modelId: string | null;
  version: string | null;
  created: string | null;
  variant: string | null;
  parameters: number | null;
  /** 10-fold verification accuracy (and its std) on the training's validation pairs, from meta.json. */
  verifAcc: number | null;
  verifStd: number | null;
  /** The folder this version was fine-tuned from (meta.finetune.parent), if it is a finetune. */
  parent: string | null;
  /** The registry's choice (active.json); when pinned, the folder the service runs. */
  active: boolean;
  /** The folder the service has loaded right now. */
  loaded: boolean;
  error: string | null;
}

export interface ModelsView {
  /** True when the server follows active.json; false when --model / FACEGATE_MODEL_DIR pins the model. */
  following: boolean;
  modelsDir: string | null;
  /** Folder named by active.json (null when pinned). */
  active: string | null;
  /** Earlier active folders, most recent last: where rollback goes. */
  history: string[];
  loaded: { id: string | null; dir: string; error: string | null };
  /** Why following active.json last failed (unreadable file, model that does not load), if it did. */
  followError: string | null;
  versions: ModelVersionView[];
}

export interface FinetuneView {
  running: boolean;
  /** status.json of the last run, a stale 'running' one reported as failed; null: never run. */
  status: FinetuneStatus | null;
  logFile: string;
}

export interface CliCommand {
  command: string;
  args: string[];
  cwd: string;
}

export interface ModelManagerOptions {
  /** The --config file the server was started with, handed on to the finetune. */
  configFile?: string;
  /** Polling interval of active.json, ms (default 1000). */
  pollMs?: number;
  /** How to start the finetune (tests substitute a stand-in); default finetuneCommand(). */
  finetuneCommand?: (config: AppConfig, configFile: string | undefined) => CliCommand;
  log?: (line: string) => void;
}

const CLI_MAIN = path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts');

/**
 * `facegate finetune` for this server's gallery, run the way the server itself runs: this Node
 * binary with tsx as the loader (as bin/facegate.js and the systemd unit do), from the project
 * root so `--import tsx` resolves. A pinned server fine-tunes its pinned model.
 */
export function finetuneCommand(config: AppConfig, configFile: string | undefined): CliCommand {
  const args = ['--import', 'tsx', CLI_MAIN, 'finetune', '--gallery', config.galleryDir];
  if (configFile) args.push('--config', path.resolve(configFile));
  if (config.modelsDir === null) args.push('--model', config.modelDir);
  return { command: process.execPath, args, cwd: PROJECT_ROOT };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

function versionView(folder: string, dir: string, meta: Record<string, unknown> | null, active: boolean, loadedDir: string | null): ModelVersionView {
  let modelId: string | null = null;
  try {
    modelId = meta ? modelIdOf(meta as { name: string; version: string }) : null;
  } catch {
    modelId = null;
  }
  const metrics = obj(meta?.metrics);
  const finetune = obj(meta?.finetune);
  return {
    folder,
    dir,
    modelId,
    version: meta ? str(String(meta.version ?? '')) : null,
    created: str(meta?.created),
    variant: str(obj(meta?.config).variant),
    parameters: num(meta?.parameters),
    verifAcc: num(metrics.verifAcc),
    verifStd: num(metrics.verifStd),
    parent: str(finetune.parent),
    active,
    loaded: loadedDir !== null && path.resolve(dir) === loadedDir,
    error: meta ? null : 'meta.json missing or unreadable',
  };
}

/** The last few lines of the finetune log, for a failure message. */
async function logTail(file: string, lines = 3): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-lines).join(' | ').slice(-600);
  } catch {
    return '';
  }
}

export class ModelManager {
  readonly registry: ModelRegistry | null;
  readonly #log: (line: string) => void;
  readonly #pollMs: number;
  /** Switches (from the watcher, the API, rollback) one at a time, so none undoes another halfway. */
  #ops: Promise<unknown> = Promise.resolve();
  #watched = new Map<string, (cur: Stats, prev: Stats) => void>();
  #followError: string | null = null;
  #closed = false;
  #child: ChildProcess | null = null;
  #starting = false;

  constructor(
    readonly service: FaceService,
    readonly config: AppConfig,
    readonly opts: ModelManagerOptions = {},
  ) {
    this.registry = config.modelsDir ? new ModelRegistry(config.modelsDir) : null;
    this.#log = opts.log ?? ((line) => console.error(`[facegate] ${line}`));
    this.#pollMs = opts.pollMs ?? 1000;
  }

  get following(): boolean {
    return this.registry !== null;
  }

  get finetuneLog(): string {
    return path.join(finetuneDir(this.config.galleryDir), 'finetune.log');
  }

  /**
   * Starts following active.json (no-op when pinned). Also catches up once: the file may have
   * changed since the config was read. FaceService.open has already re-embedded the gallery for
   * the model it loaded; if that failed (it is logged), it is retried here in the background.
   */
  start(): void {
    if (!this.registry || this.#closed) return;
    this.#watch(this.registry.activeFile);
    void this.#op(async () => {
      const out = await this.#follow();
      if (out) return;
      const h = this.service.health();
      if (h.model.loaded && (h.gallery.reembedPending > 0 || this.service.getSettings().activeModelId !== h.model.id)) {
        const r = await this.service.reembed();
        this.#log(`gallery caught up with ${r.modelId}: ${r.reembedded} templates re-embedded, ${r.kept} kept`);
      }
    }).catch((err) => this.#log(`model catch-up failed: ${(err as Error).message}`));
  }

  /** Stops watching and waits for a switch in progress. The finetune child keeps running (it is detached). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [file, listener] of this.#watched) unwatchFile(file, listener);
    this.#watched.clear();
    await this.#ops.catch(() => {});
  }

  #watch(file: string): void {
    if (this.#watched.has(file)) return;
    // persistent: false, so a forgotten watcher never keeps the process alive.
    const listener = (cur: Stats, prev: Stats) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
      this.sync().catch(() => {});
    };
    watchFile(file, { interval: this.#pollMs, persistent: false }, listener);
    this.#watched.set(file, listener);
  }

  #unwatch(file: string): void {
    const listener = this.#watched.get(file);
    if (listener) unwatchFile(file, listener);
    this.#watched.delete(file);
  }

  #op<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(fn);
    this.#ops = run.catch(() => {});
    return run;
  }

  /** Switches to the model active.json names, now (what the watcher calls). Null when pinned or already there. */
  sync(): Promise<ModelSwitchOutcome | null> {
    return this.#op(() => this.#follow());
  }

  async #follow(): Promise<ModelSwitchOutcome | null> {
    if (!this.registry || this.#closed) return null;
    let dir: string;
    try {
      dir = this.registry.activeDir();
    } catch (err) {
      this.#followError = (err as Error).message;
      this.#log(`not following ${this.registry.activeFile}: ${this.#followError}`);
      return null;
    }
    // Until a missing model appears (e.g. the shipped default being copied in), watch for its model.json too.
    const modelJson = path.join(dir, 'model.json');
    for (const f of this.#watched.keys()) if (f !== this.registry.activeFile && f !== modelJson) this.#unwatch(f);
    const slot = this.service.slot;
    if (slot.loaded && slot.embedder.dir === path.resolve(dir)) {
      this.#followError = null;
      this.#unwatch(modelJson);
      return null;
    }
    if (!existsSync(modelJson)) {
      this.#followError = `active model folder ${dir} has no model.json (yet)`;
      this.#watch(modelJson);
      return null;
    }
    try {
      const out = await this.service.switchModel(dir);
      this.#followError = null;
      this.#unwatch(modelJson);
      this.#describe(out);
      return out;
    } catch (err) {
      this.#followError = `could not switch to ${dir}: ${(err as Error).message}; still running ${this.service.modelId ?? 'no model'}`;
      this.#log(this.#followError);
      throw err;
    }
  }

  #describe(out: ModelSwitchOutcome): void {
    if (!out.switched) return;
    const r = out.reembed;
    this.#log(
      `model switched ${out.from ?? '(none)'} -> ${out.modelId} in ${Math.round(out.ms)} ms` +
        (r ? ` (${r.reembedded} templates re-embedded, ${r.kept} kept${r.needEnrollment.length ? `, ${r.needEnrollment.length} identities must enrol again` : ''})` : ''),
    );
  }

  #requireFollowing(): ModelRegistry {
    if (!this.registry) {
      throw new ServiceError('conflict', `the model is pinned to ${this.config.modelDir} (--model or FACEGATE_MODEL_DIR); start the server without it to switch versions at runtime`);
    }
    return this.registry;
  }

  async view(): Promise<ModelsView> {
    const slot = this.service.slot;
    const loadedDir = slot.loaded ? slot.embedder.dir : null;
    const loaded = { id: this.service.modelId, dir: slot.loaded ? slot.embedder.dir : slot.dir, error: slot.loaded ? null : slot.reason };
    if (!this.registry) {
      const versions = (await listModelVersions(this.config.modelDir)).map((v) =>
        versionView(v.folder, v.dir, v.meta as Record<string, unknown> | null, path.resolve(v.dir) === path.resolve(this.config.modelDir), loadedDir),
      );
      return { following: false, modelsDir: null, active: null, history: [], loaded, followError: null, versions };
    }
    let active: string | null = null;
    let history: string[] = [];
    let followError = this.#followError;
    try {
      ({ active, history } = this.registry.activeSync());
    } catch (err) {
      followError = (err as Error).message;
    }
    const versions = (await this.registry.list()).map((e) => versionView(e.folder, e.dir, e.meta, e.folder === active, loadedDir));
    return { following: true, modelsDir: this.registry.root, active, history, loaded, followError, versions };
  }

  /**
   * Makes `folder` the active version: loads and switches first (a model that does not load never
   * becomes active), then records it in active.json. The watcher then finds nothing to do.
   */
  use(folder: string): Promise<ModelSwitchOutcome> {
    return this.#op(async () => {
      const registry = this.#requireFollowing();
      if (!isModelFolderName(folder)) throw new ServiceError('invalid_input', `not a model folder name: ${JSON.stringify(folder)}`);
      const dir = registry.dirOf(folder);
      if (!existsSync(path.join(dir, 'model.json'))) throw new ServiceError('not_found', `no model version ${folder} (no model.json in ${dir})`);
      const before = this.service.slot;
      const out = await this.service.switchModel(dir);
      try {
        await registry.use(folder);
      } catch (err) {
        // active.json could not be written: go back so the file and the running model agree.
        if (out.switched && before.loaded) await this.service.switchModel(before.embedder.dir).catch(() => {});
        throw new ServiceError('storage', `could not record ${folder} as active: ${(err as Error).message}`);
      }
      this.#followError = null;
      this.#describe(out);
      return out;
    });
  }

  /** Returns to the previously active version (active.json's history). */
  rollback(): Promise<ModelSwitchOutcome> {
    return this.#op(async () => {
      const registry = this.#requireFollowing();
      let prev: string;
      try {
        prev = registry.activeSync().active;
        await registry.rollback();
      } catch (err) {
        if (err instanceof ModelRegistryError) throw new ServiceError('conflict', err.message);
        throw err;
      }
      const dir = registry.activeDir();
      try {
        const out = await this.service.switchModel(dir);
        this.#followError = null;
        this.#describe(out);
        return out;
      } catch (err) {
        // The earlier version does not load (any more): keep the current one active.
        await registry.use(prev).catch(() => {});
        throw err;
      }
    });
  }

  // ---- finetune -------------------------------------------------------------------------------

  async finetuneStatus(): Promise<FinetuneView> {
    let status = await readFinetuneStatus(this.config.galleryDir);
    if (status && isStale(status)) {
      status = { ...status, state: 'failed', message: status.message ?? `the finetune process ${status.pid} ended without finishing (killed or crashed); see ${this.finetuneLog}` };
    }
    // The report keeps ids only (a deleted person's name must not outlive them): names come from
    // the gallery now, and people deleted since are left out.
    const report = status?.report;
    if (report) {
      const nameOf = (id: string) => this.service.findIdentity(id)?.name;
      const skipped = report.identities.skipped.map((x) => ({ ...x, name: nameOf(x.id) ?? x.name })).filter((x) => x.name);
      status = { ...status!, report: { ...report, identities: { ...report.identities, skipped } } };
    }
    const childRunning = this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
    return { running: this.#starting || childRunning || status?.state === 'running', status, logFile: this.finetuneLog };
  }

  /**
   * Starts `facegate finetune` on this gallery as a child process, detached from the request (and
   * from this process group), its output in <gallery>/finetune/finetune.log. Refused (409) while
   * one runs, whoever started it. A promotion flips active.json, which the watcher follows.
   */
  async startFinetune(): Promise<{ pid: number; logFile: string }> {
    // Claim the slot before the first await, so two requests at once cannot both start one.
    if (this.#starting) throw new ServiceError('conflict', 'a finetune is already running; wait for it to finish');
    this.#starting = true;
    try {
      const current = await this.finetuneStatus();
      if (current.status?.state === 'running' || (this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null)) {
        throw new ServiceError('conflict', 'a finetune is already running; wait for it to finish');
      }
      await mkdir(finetuneDir(this.config.galleryDir), { recursive: true });
      const cmd = (this.opts.finetuneCommand ?? finetuneCommand)(this.config, this.opts.configFile);
      const log = await open(this.finetuneLog, 'w');
      let child: ChildProcess;
      let spawned: Promise<number>;
      let statusWritten!: () => void;
      const initialStatus = new Promise<void>((resolve) => (statusWritten = resolve));
      try {
        await log.write(`[facegate] ${new Date().toISOString()} started by the server: ${cmd.command} ${cmd.args.join(' ')}\n`);
        // The child runs from the project root: hand it this server's models folder as an absolute path.
        const env = this.config.modelsDir ? { ...process.env, FACEGATE_MODELS_DIR: this.config.modelsDir } : process.env;
        child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env, detached: true, stdio: ['ignore', log.fd, log.fd] });
        // Listeners before any await: 'spawn', 'error' and even 'exit' may come right away.
        spawned = new Promise<number>((resolve, reject) => {
          child.once('spawn', () => resolve(child.pid!));
          child.once('error', reject);
        });
        child.once('exit', (code, signal) => void initialStatus.then(() => this.#finetuneExited(child.pid ?? -1, code, signal)));
      } finally {
        // The child has its own copy of the descriptor.
        await log.close();
      }
      let pid: number;
      try {
        pid = await spawned;
      } catch (err) {
        throw new ServiceError('storage', `could not start the finetune: ${(err as Error).message}`);
      }
      child.unref();
      this.#child = child;
      const now = new Date().toISOString();
      // Written before the CLI's own first status (it needs a moment to start), so the page shows it at once.
      await writeFinetuneStatus(this.config.galleryDir, { state: 'running', pid, startedAt: now, updatedAt: now, phase: 'starting', message: 'started by the server' }).finally(statusWritten);
      this.#log(`finetune started (pid ${pid}), log ${this.finetuneLog}`);
      return { pid, logFile: this.finetuneLog };
    } finally {
      this.#starting = false;
    }
  }

  /** A run that ended without a final status (crash, bad arguments, killed) is recorded as failed. */
  async #finetuneExited(pid: number, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.#child?.pid === pid) this.#child = null;
    try {
      const s = await readFinetuneStatus(this.config.galleryDir);
      if (s && s.pid === pid && s.state !== 'running') {
        this.#log(`finetune (pid ${pid}) ${s.state}`);
        return;
      }
      if (s && s.pid !== pid) return;
      const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
      const tail = await logTail(this.finetuneLog);
      const now = new Date().toISOString();
      await writeFinetuneStatus(this.config.galleryDir, {
        state: 'failed',
        pid,
        startedAt: s?.startedAt ?? now,
        updatedAt: now,
        phase: s?.phase ?? 'starting',
        ...(s?.progress && { progress: s.progress }),
        message: `the finetune ${how} without a final status${tail ? `: ${tail}` : ''}`,
      });
      this.#log(`finetune (pid ${pid}) ${how}; see ${this.finetuneLog}`);
    } catch (err) {
      this.#log(`finetune status after exit: ${(err as Error).message}`);
    }
  }
}
