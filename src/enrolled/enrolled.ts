// The enrolled/ folder as one unit: the gallery (identities, templates, crops), the settings and
// the activity log, opened together, erased together, swept together.
//
//   <dir>/gallery.json     identities, templates, the active model   (src/gallery)
//   <dir>/faces/           aligned crops                             (src/gallery/crops.ts)
//   <dir>/settings.json    the kiosk's settings                      (src/settings)
//   <dir>/activity.json    decision log, last-seen times             (src/activity)
//   <dir>/snapshots/       frames of logged decisions                (src/activity)
//   <dir>/finetune/<id>/   other per-person data, erased with them   (erasureDirs)
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ActivityLog } from '../activity/activity-log.js';
import { TEMP_FILE, nodeIo, writeError, type FileIo } from '../gallery/atomic-file.js';
import { Gallery } from '../gallery/gallery.js';
import { childPath, isId } from '../gallery/ids.js';
import { ownedByAnotherProcess } from '../owner/lock.js';
import { SettingsStore } from '../settings/settings-store.js';
import { listDir } from '../util/list-dir.js';

export interface EnrolledOptions {
  /**
   * Folders holding other per-identity data as <folder>/<identityId> (fine-tune sets, ...),
   * erased together with the identity. Relative paths are taken under the gallery dir.
   * Default: ['finetune'].
   */
  erasureDirs?: string[];
  /**
   * Clean up leftovers of interrupted operations when opening (default true). Never while
   * another live process owns the gallery (src/owner): what looks left over may be its write in
   * progress (the crops of an enrollment are written before gallery.json names them).
   */
  sweepOnOpen?: boolean;
  /** Temp files older than this are treated as abandoned by a dead writer (default 60 s). */
  staleTempMs?: number;
  /** File operations used for writes (fault injection in tests). */
  io?: FileIo;
}

export interface ErasureReport {
  identityId: string;
  templates: number;
  activityEntries: number;
  /** Files and folders removed (that existed or not). */
  removedPaths: string[];
}

export interface SweepReport {
  removedPaths: string[];
  activityEntries: number;
}

export class Enrolled {
  readonly #io: FileIo;
  readonly #erasureDirs: string[];
  readonly #staleTempMs: number;

  private constructor(
    readonly dir: string,
    readonly gallery: Gallery,
    readonly settings: SettingsStore,
    readonly activity: ActivityLog,
    opts: EnrolledOptions,
  ) {
    this.#io = opts.io ?? nodeIo;
    this.#erasureDirs = (opts.erasureDirs ?? ['finetune']).map((d) => path.resolve(dir, d));
    this.#staleTempMs = opts.staleTempMs ?? 60_000;
  }

  /** Opens (creating if needed) the folder. CORRUPT on any invalid file, which is never overwritten. */
  static async open(dir = 'enrolled', opts: EnrolledOptions = {}): Promise<Enrolled> {
    const abs = path.resolve(dir);
    // The stores read each other lazily: the gallery asks the settings how to store templates and
    // the log for last-seen times; the log asks the gallery who exists.
    let settings: SettingsStore | undefined;
    let activity: ActivityLog | undefined;
    const gallery = await Gallery.open(abs, {
      io: opts.io,
      storage: () => settings!.get(),
      lastSeen: (id) => activity?.lastSeen(id) ?? null,
    });
    // An older gallery.json held the settings: settings.json starts from them, then the gallery is rewritten without them.
    settings = await SettingsStore.open(abs, { io: opts.io, initial: gallery.legacySettings });
    await gallery.upgrade();
    activity = await ActivityLog.open(abs, { io: opts.io, settings: () => settings!.get(), identityExists: (id) => gallery.getIdentity(id) !== undefined });
    const enrolled = new Enrolled(abs, gallery, settings, activity, opts);
    if ((opts.sweepOnOpen ?? true) && !(await ownedByAnotherProcess(abs))) await enrolled.sweepOrphans();
    return enrolled;
  }

  /** Re-reads every file (another process may have changed them). */
  async reload(): Promise<void> {
    await this.gallery.reload();
    await this.settings.reload();
    await this.activity.reload();
  }

  /** Waits for queued writes; later writes are refused. */
  async close(): Promise<void> {
    await this.gallery.close();
    await this.activity.close();
    await this.settings.close();
  }

  /**
   * Right to erasure: the identity, its templates and crops, its activity entries and their
   * snapshots, its last-seen time, and its folder in every erasure dir. The gallery goes first
   * (from then on the door cannot match the person, nor the log take new entries for them); what
   * cannot be removed after that is named in the error, and the next sweep finishes the job.
   */
  async erase(id: string): Promise<ErasureReport> {
    const g = await this.gallery.deleteIdentity(id);
    const a = await this.activity.erase(id);
    const others = this.#erasureDirs.map((d) => childPath(d, id));
    try {
      for (const p of others) await this.#io.remove(p);
    } catch (e) {
      throw writeError(others.join(', '), e, `belong to deleted identity ${id} but could not all be removed (the next sweep retries)`);
    }
    return { identityId: id, templates: g.templates, activityEntries: a.entries, removedPaths: [...g.removedPaths, ...a.removedPaths, ...others] };
  }

  /**
   * Removes what interrupted operations can leave behind: temp files of dead writers, crops and
   * erasure-dir folders of identities that no longer exist (an erasure cut short), crops and
   * snapshots nothing refers to, and log entries of deleted identities. Only names matching the
   * stores' own patterns are touched.
   */
  async sweepOrphans(): Promise<SweepReport> {
    const removed: string[] = [];
    const removeStaleTemp = async (dir: string, name: string) => {
      if (!TEMP_FILE.test(name)) return false;
      const p = path.join(dir, name);
      try {
        if (Date.now() - (await stat(p)).mtimeMs < this.#staleTempMs) return false;
      } catch {
        return false;
      }
      await this.#io.remove(p);
      return true;
    };
    for (const e of await listDir(this.dir)) if (e.isFile() && (await removeStaleTemp(this.dir, e.name))) removed.push(path.join(this.dir, e.name));
    const live = this.gallery.identityIds();
    const a = await this.activity.sweep(live, removeStaleTemp);
    removed.push(...(await this.gallery.sweepCrops(removeStaleTemp)), ...a.removedPaths);
    for (const d of this.#erasureDirs) {
      for (const e of await listDir(d)) {
        if (!isId('identity', e.name) || live.has(e.name)) continue;
        await this.#io.remove(path.join(d, e.name));
        removed.push(path.join(d, e.name));
      }
    }
    return { removedPaths: removed, activityEntries: a.entries };
  }
}
