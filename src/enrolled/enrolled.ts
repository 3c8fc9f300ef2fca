// The enrolled/ folder as one unit: the gallery (identities, templates, crops), the settings and
// the activity log, opened together, erased together, swept together.
//
//   <dir>/gallery.json     identities, templates, the active model   (src/gallery)
//   <dir>/faces/           aligned crops                             (src/gallery/crops.ts)
//   <dir>/settings.json    the kiosk's settings                      (src/settings)
//   <dir>/audit/           audit trail (decisions by day), last-seen (src/activity, docs/audit-trail.md)
//   <dir>/snapshots/       frames of logged decisions                (src/activity)
//   <dir>/finetune/<id>/   other per-person data, erased with them   (erasureDirs)
import { link, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ActivityLog } from '../activity/activity-log.js';
import { TEMP_FILE, atomicWrite, nodeIo, writeError, type BackupInfo, type FileIo } from '../gallery/atomic-file.js';
import { GalleryError } from '../gallery/errors.js';
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
    const name = this.gallery.getIdentity(id)?.name;
    const g = await this.gallery.deleteIdentity(id);
    // The audit trail keeps a redacted line for each of their records (src/activity).
    const a = await this.activity.erase(id, { name });
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

// ---- backups and restore ---------------------------------------------------------------------
//
// gallery.json and settings.json keep rotating backups, <file>.bak.1 (newest) .. .bak.3, made on
// every write (src/util/atomic-write.ts); an erasure rewrites gallery.json's without the person
// (Gallery.deleteIdentity). activity.json has none: it is written on every decision, and losing
// it loses history, never who may enter. A start on a corrupt file names the backup to restore.

/** The files with backups, and how each is checked (as its store reads it). */
const BACKED_UP: Record<string, { check: (file: string) => Promise<void>; list: (dir: string) => Promise<BackupInfo[]> }> = {
  'gallery.json': { check: (f) => Gallery.checkFile(f), list: (d) => Gallery.listBackups(d) },
  'settings.json': { check: (f) => SettingsStore.checkFile(f), list: (d) => SettingsStore.listBackups(d) },
};

/** The rotating backups in the folder (gallery.json's, then settings.json's), newest first, each checked. */
export async function listBackups(dir = 'enrolled'): Promise<BackupInfo[]> {
  const out: BackupInfo[] = [];
  for (const { list } of Object.values(BACKED_UP)) out.push(...(await list(dir)));
  return out;
}

export interface RestoreReport {
  /** The file restored (gallery.json or settings.json). */
  file: string;
  /** The backup it was restored from (still there). */
  from: string;
  /** Where the file it replaced is kept (<file>.replaced-<time>), or null when there was none. */
  replaced: string | null;
}

/**
 * Puts a backup (`gallery.json.bak.2`, `settings.json.bak.1`: a name in `dir`) back in place of
 * its file, once it reads as the store would read it (CORRUPT or NOT_FOUND otherwise, and nothing
 * changes). The file it replaces is kept beside it as <file>.replaced-<time>, never deleted: it
 * may hold what no backup does. No rotation: a bad file must not push a good backup out.
 * The caller holds the gallery (no server is running on it).
 */
export async function restoreBackup(dir: string, backup: string): Promise<RestoreReport> {
  const abs = path.resolve(dir);
  const name = path.basename(backup);
  const m = /^(gallery\.json|settings\.json)\.bak\.\d+$/.exec(name);
  const inDir = path.dirname(backup) === '.' || path.resolve(path.dirname(backup)) === abs;
  if (!m || !inDir) throw new GalleryError('INVALID_INPUT', `${backup} is not a backup in ${abs}: name one as gallery.json.bak.N or settings.json.bak.N`);
  const target = path.join(abs, m[1]!);
  const from = path.join(abs, name);
  await BACKED_UP[m[1]!]!.check(from);
  const bytes = await readFile(from);
  let replaced: string | null = path.join(abs, `${m[1]}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    await link(target, replaced);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(replaced, e, 'could not be made (a copy of the file to replace); nothing was restored');
    replaced = null;
  }
  await atomicWrite(target, bytes);
  return { file: target, from, replaced };
}

