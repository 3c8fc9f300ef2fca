// The enrollment gallery: identities and their face templates (embeddings) per model, with the
// model whose templates are searched:
//
//   <dir>/gallery.json                        identities, templates, activeModelId (lowdb, atomic writes)
//   <dir>/faces/<identityId>/<templateId>.jpg  aligned crops (crops.ts), to re-embed and fine-tune
//
// The settings (src/settings) and the activity log (src/activity) live beside it; src/enrolled
// opens the three together. All writes go through one queue; memory changes only after the file
// write succeeded, so readers (all synchronous) see the last durable state, never a partial one.
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { AtomicJsonFile, listBackups, nodeIo, readJsonFile, writeError, type BackupInfo, type FileIo } from './atomic-file.js';
import { CropStore, checkJpeg } from './crops.js';
import { decodeEmbedding, encodeEmbedding, type EmbeddingDtype } from './embedding-codec.js';
import { normalizeInPlace } from '../match/vector.js';
import { GalleryError } from './errors.js';
import { assertId, newId } from './ids.js';
import { parseFile, parseWith } from './validate.js';
import {
  GalleryFileSchema,
  GalleryFileV1Schema,
  IdentityPatchSchema,
  ModelIdSchema,
  NewIdentitySchema,
  SourceSchema,
  type GalleryFile,
  type IdentityPatch,
  type IdentityRecord,
  type NewIdentity,
  type TemplateRecord,
} from './schema.js';

export type { IdentityPatch, NewIdentity } from './schema.js';

export interface GalleryOptions {
  /** How new templates are stored (settings.keepCrops, settings.embeddingDtype); default: crops kept, f32. */
  storage?: () => { keepCrops: boolean; embeddingDtype: EmbeddingDtype };
  /** Time of each person's last accepted decision (the activity log); default none. */
  lastSeen?: (identityId: string) => string | null;
  /** File operations used for writes (fault injection in tests). */
  io?: FileIo;
}

export interface Identity extends IdentityRecord {
  /** Time of the last accepted decision for this identity, or null. */
  lastSeen: string | null;
  /** Templates of all models. */
  templateCount: number;
}

/** Template metadata (the vector itself: `embedding(templateId)` or `matrix(modelId)`). */
export type Template = Omit<TemplateRecord, 'embedding'>;
export type TemplateSource = TemplateRecord['source'];

export interface NewTemplate {
  embedding: ArrayLike<number>;
  /** name@version of the model that produced the embedding. */
  modelId: string;
  /** Face quality in [0, 1]. */
  quality: number;
  source: TemplateSource;
  /** Aligned face crop (JPEG bytes); stored unless settings.keepCrops is off. */
  cropJpeg?: Uint8Array;
}

export interface ReembeddedTemplate {
  identityId: string;
  embedding: ArrayLike<number>;
  quality: number;
  source: TemplateSource;
  /** The old template whose crop this embedding was computed from: the new template shares that crop. */
  fromTemplateId?: string;
  cropJpeg?: Uint8Array;
}

export interface ReembedItem {
  /** An old-model template whose crop can be re-embedded. */
  templateId: string;
  identityId: string;
  modelId: string;
  crop: string;
  cropPath: string;
  quality: number;
  source: TemplateSource;
}

export interface GalleryMatrix {
  modelId: string;
  dim: number;
  rows: number;
  /** rows x dim, row-major, every row unit length. Shared and cached: do not modify. */
  matrix: Float32Array;
  templateIds: string[];
  identityIds: string[];
  /** Gallery revision this was built from. */
  revision: number;
}

export interface ErasureReport {
  identityId: string;
  templates: number;
  /** The person's crop folder (removed). */
  removedPaths: string[];
}

const MAX_DIM = 8192;
/**
 * Previous versions of gallery.json kept as gallery.json.bak.1 (newest) .. .bak.3, rotated on
 * every write (hard links: no copy). An erasure rewrites them without the person (deleteIdentity).
 */
export const GALLERY_BACKUPS = 3;
function now(): string {
  return new Date().toISOString();
}

/** Validated, unit-length Float32 copy of an embedding. */
function checkEmbedding(v: ArrayLike<number>, what: string): Float32Array {
  if (!v || typeof v.length !== 'number') throw new GalleryError('INVALID_INPUT', `${what}: embedding must be a Float32Array`);
  if (v.length < 1 || v.length > MAX_DIM) throw new GalleryError('INVALID_INPUT', `${what}: embedding length ${v.length} outside 1..${MAX_DIM}`);
  const out = Float32Array.from(v);
  let s = 0;
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) throw new GalleryError('INVALID_INPUT', `${what}: embedding has a non-finite value at ${i}`);
    s += out[i] * out[i];
  }
  if (s === 0) throw new GalleryError('INVALID_INPUT', `${what}: embedding is all zeros`);
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < out.length; i++) out[i] *= inv;
  return out;
}

/** Quality, source and optional crop of a template to be stored, validated. */
function checkTemplateFields(t: { quality: number; source: unknown; cropJpeg?: Uint8Array }, what: string) {
  return {
    quality: checkQuality(t.quality, what),
    source: parseWith(SourceSchema, t.source, `${what} source`),
    cropJpeg: t.cropJpeg === undefined ? undefined : checkJpeg(t.cropJpeg, what),
  };
}

function checkQuality(q: unknown, what: string): number {
  if (typeof q !== 'number' || !Number.isFinite(q) || q < 0 || q > 1) throw new GalleryError('INVALID_INPUT', `${what}: quality must be a number in [0, 1]`);
  return q;
}

/** Cross-record checks zod cannot express: unique ids and badges, references, one dim per model. */
function checkIntegrity(g: GalleryFile, file: string): void {
  const fail = (m: string) => {
    throw new GalleryError('CORRUPT', `${file}: ${m}`);
  };
  const ids = new Set<string>();
  const badges = new Set<string>();
  for (const i of g.identities) {
    if (ids.has(i.id)) fail(`duplicate identity ${i.id}`);
    ids.add(i.id);
    if (i.badge !== null) {
      const b = i.badge.toLowerCase();
      if (badges.has(b)) fail(`duplicate badge ${i.badge}`);
      badges.add(b);
    }
  }
  const tids = new Set<string>();
  const dims = new Map<string, number>();
  for (const t of g.templates) {
    if (tids.has(t.id)) fail(`duplicate template ${t.id}`);
    tids.add(t.id);
    if (!ids.has(t.identityId)) fail(`template ${t.id} refers to missing identity ${t.identityId}`);
    const d = dims.get(t.modelId);
    if (d !== undefined && d !== t.dim) fail(`model ${t.modelId} has templates of ${d} and ${t.dim} dims`);
    dims.set(t.modelId, t.dim);
    // base64 length check instead of decoding every vector on open.
    const bytes = t.dim * (t.dtype === 'f32' ? 4 : 2);
    if (t.embedding.length !== 4 * Math.ceil(bytes / 3)) fail(`template ${t.id}: embedding is not ${t.dim} x ${t.dtype}`);
  }
}

/**
 * Faces, templates and the log are biometric data: the folder is the owner's alone (0700), so
 * nothing in it is readable by other users whatever the umask. An older folder is closed up too.
 */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { mode } = await stat(dir);
  if ((mode & 0o077) === 0) return;
  try {
    await chmod(dir, mode & 0o700);
  } catch (e) {
    throw new GalleryError('WRITE_FAILED', `${dir} is readable by other users and cannot be made private: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * A gallery file's content as open() reads it: schema (version 1 or 2) and integrity; CORRUPT
 * naming `file` otherwise. A version 1 file comes back as version 2 with the settings it held.
 */
function parseGalleryFile(raw: unknown, file: string): { gallery: GalleryFile; legacySettings?: Record<string, unknown> } {
  let g: GalleryFile;
  let legacySettings: Record<string, unknown> | undefined;
  if ((raw as { version?: unknown } | null)?.version === 1) {
    // Version 1 kept the settings here; they move to settings.json, activeModelId stays.
    const { settings, ...rest } = parseFile(GalleryFileV1Schema, raw, file, 'gallery');
    const { activeModelId, ...others } = settings;
    legacySettings = others;
    g = { ...rest, version: 2, activeModelId: activeModelId ?? null };
  } else g = parseFile(GalleryFileSchema, raw, file, 'gallery');
  checkIntegrity(g, file);
  return { gallery: g, legacySettings };
}

export class Gallery {
  readonly dir: string;
  readonly file: string;
  readonly crops: CropStore;
  readonly #io: FileIo;
  readonly #storage: NonNullable<GalleryOptions['storage']>;
  readonly #lastSeen: NonNullable<GalleryOptions['lastSeen']>;
  readonly #db: Low<GalleryFile>;
  /** gallery.json and its rotating backups. */
  readonly #file: AtomicJsonFile<GalleryFile>;
  /** The settings an older gallery.json (version 1) carried, for settings.json to start from. */
  #legacySettings: Record<string, unknown> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #revision = 0;
  #closed = false;
  readonly #matrices = new Map<string, GalleryMatrix>();
  /** Records are never mutated (every change makes new objects), so decoded vectors can be cached by record. */
  #decoded = new WeakMap<TemplateRecord, Float32Array>();

  private constructor(dir: string, opts: GalleryOptions) {
    this.dir = dir;
    this.file = path.join(dir, 'gallery.json');
    this.#io = opts.io ?? nodeIo;
    this.crops = new CropStore(path.join(dir, 'faces'), this.#io);
    this.#storage = opts.storage ?? (() => ({ keepCrops: true, embeddingDtype: 'f32' }));
    this.#lastSeen = opts.lastSeen ?? (() => null);
    // `file`: gallery.json, or one of its backups being checked (which must not touch this gallery).
    const parse = (raw: unknown, file: string): GalleryFile => {
      const { gallery, legacySettings } = parseGalleryFile(raw, file);
      if (file === this.file && legacySettings) this.#legacySettings = legacySettings;
      return gallery;
    };
    this.#file = new AtomicJsonFile(this.file, parse, this.#io, { backups: GALLERY_BACKUPS, fresh: 'an empty gallery (everyone must enrol again)' });
    this.#db = new Low(this.#file, Gallery.#empty());
  }

  static #empty(): GalleryFile {
    return { format: 'facegate-gallery', version: 2, activeModelId: null, identities: [], templates: [] };
  }

  /**
   * Opens (creating if needed) the gallery in `dir`. Throws GalleryError CORRUPT on an invalid
   * file, never overwriting it. A version 1 file is read as is and written as version 2 by the
   * next write (after settings.json holds its settings: see src/enrolled).
   */
  static async open(dir = 'enrolled', opts: GalleryOptions = {}): Promise<Gallery> {
    const abs = path.resolve(dir);
    await privateDir(abs);
    const g = new Gallery(abs, opts);
    await g.#load();
    return g;
  }

  /**
   * Checks a file (a backup of gallery.json, before it is restored) as open() would read it:
   * NOT_FOUND, or CORRUPT naming the file and what is wrong.
   */
  static async checkFile(file: string): Promise<void> {
    await readJsonFile(file, parseGalleryFile);
  }

  /** The rotating backups of gallery.json in `dir` that exist, newest first, each checked. */
  static listBackups(dir: string): Promise<BackupInfo[]> {
    return listBackups(path.join(path.resolve(dir), 'gallery.json'), GALLERY_BACKUPS, parseGalleryFile);
  }

  /** The settings of a version 1 gallery.json (undefined for a current one). */
  get legacySettings(): Record<string, unknown> | undefined {
    return this.#legacySettings;
  }

  async #load(): Promise<void> {
    const found = await this.#db.adapter.read();
    if (found) this.#db.data = found;
    else await this.#commit(Gallery.#empty());
    this.#revision++;
    this.#matrices.clear();
  }

  /** Writes the file in the current version (an upgrade from version 1). */
  upgrade(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#legacySettings === undefined) return;
      await this.#commit(this.#g);
      this.#legacySettings = undefined;
    });
  }

  /** Re-reads the file (another process, e.g. the finetune, may have changed it). */
  reload(): Promise<void> {
    return this.#exclusive(() => this.#load());
  }

  /** Increments on every change of identities, templates or the active model. */
  get revision(): number {
    return this.#revision;
  }

  /** Waits for queued writes; later writes are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.catch(() => {});
  }

  // ---- write plumbing -------------------------------------------------------------------------

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new GalleryError('WRITE_FAILED', `gallery ${this.dir} is closed`));
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Writes then adopts `next`: if the write fails, memory keeps the previous state too. */
  async #commit(next: GalleryFile): Promise<void> {
    await this.#db.adapter.write(next);
    this.#db.data = next;
    this.#revision++;
    this.#matrices.clear();
  }

  get #g(): GalleryFile {
    return this.#db.data;
  }

  // ---- identities -----------------------------------------------------------------------------

  #view(rec: IdentityRecord): Identity {
    let n = 0;
    for (const t of this.#g.templates) if (t.identityId === rec.id) n++;
    return { ...rec, threshold: { ...rec.threshold }, lastSeen: this.#lastSeen(rec.id), templateCount: n };
  }

  #record(id: string): IdentityRecord {
    assertId('identity', id);
    const rec = this.#g.identities.find((i) => i.id === id);
    if (!rec) throw new GalleryError('NOT_FOUND', `no identity ${id}`);
    return rec;
  }

  /** Sorted by name. */
  listIdentities(): Identity[] {
    const counts = new Map<string, number>();
    for (const t of this.#g.templates) counts.set(t.identityId, (counts.get(t.identityId) ?? 0) + 1);
    return this.#g.identities
      .map((rec) => ({ ...rec, threshold: { ...rec.threshold }, lastSeen: this.#lastSeen(rec.id), templateCount: counts.get(rec.id) ?? 0 }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.created.localeCompare(b.created));
  }

  /** undefined when absent; throws INVALID_ID for a malformed id. */
  getIdentity(id: string): Identity | undefined {
    assertId('identity', id);
    const rec = this.#g.identities.find((i) => i.id === id);
    return rec && this.#view(rec);
  }

  /** Badge lookup for 1:1 claims; case-insensitive. */
  findByBadge(badge: string): Identity | undefined {
    const b = String(badge).trim().toLowerCase();
    const rec = this.#g.identities.find((i) => i.badge !== null && i.badge.toLowerCase() === b);
    return rec && this.#view(rec);
  }

  #checkBadgeFree(badge: string | null | undefined, except?: string): void {
    if (!badge) return;
    const b = badge.toLowerCase();
    const other = this.#g.identities.find((i) => i.id !== except && i.badge !== null && i.badge.toLowerCase() === b);
    if (other) throw new GalleryError('CONFLICT', `badge ${badge} is already used by another identity`);
  }

  /**
   * A new identity; with `templates` (an enrollment) they are stored in the same write, so a crash
   * can never leave the person without templates (and their badge taken). Crops are written
   * first and removed again if the write fails.
   */
  addIdentity(input: NewIdentity, templates: readonly NewTemplate[] = []): Promise<Identity> {
    return this.#exclusive(async () => {
      const v = parseWith(NewIdentitySchema, input, 'identity');
      this.#checkBadgeFree(v.badge);
      const checked = templates.length > 0 ? this.#checkTemplates(templates) : [];
      const t = now();
      const rec: IdentityRecord = {
        id: newId('identity'),
        name: v.name,
        badge: v.badge ?? null,
        notes: v.notes ?? '',
        threshold: v.threshold ?? {},
        created: t,
        updated: t,
      };
      const written: string[] = [];
      try {
        const records = await this.#newRecords(checked.map((c) => ({ ...c, identityId: rec.id, crop: null })), written);
        await this.#commit({ ...this.#g, identities: [...this.#g.identities, rec], templates: [...this.#g.templates, ...records] });
      } catch (e) {
        await this.crops.undo(written, [rec.id]);
        throw e;
      }
      return this.#view(rec);
    });
  }

  updateIdentity(id: string, patch: IdentityPatch): Promise<Identity> {
    return this.#exclusive(async () => {
      const cur = this.#record(id);
      const p = parseWith(IdentityPatchSchema, patch, 'identity patch');
      if (p.badge !== undefined) this.#checkBadgeFree(p.badge, id);
      const next: IdentityRecord = {
        ...cur,
        ...(p.name !== undefined && { name: p.name }),
        ...(p.badge !== undefined && { badge: p.badge }),
        ...(p.notes !== undefined && { notes: p.notes }),
        ...(p.threshold !== undefined && { threshold: p.threshold }),
        updated: now(),
      };
      await this.#commit({ ...this.#g, identities: this.#g.identities.map((i) => (i.id === id ? next : i)) });
      return this.#view(next);
    });
  }

  /**
   * Erasure from the gallery: the identity, its templates and its crops. The file is committed
   * first; if removing the crops then fails, the error says so and the next sweep finishes the
   * job. The activity log and other per-person folders are erased beside it (src/enrolled).
   */
  deleteIdentity(id: string): Promise<ErasureReport> {
    return this.#exclusive(async () => {
      this.#record(id);
      const g = this.#g;
      const templates = g.templates.filter((t) => t.identityId === id).length;
      await this.#commit({
        ...g,
        identities: g.identities.filter((i) => i.id !== id),
        templates: g.templates.filter((t) => t.identityId !== id),
      });
      // The backups too (the newest is the file just before this write): rewritten without the person.
      let unscrubbed: unknown;
      await this.#file
        .rewriteBackups(
          (text) => text.includes(id),
          (raw) => {
            const old = raw as { identities?: { id?: unknown }[]; templates?: { identityId?: unknown }[] } | null;
            if (!Array.isArray(old?.identities) || !Array.isArray(old.templates)) return null;
            return { ...old, identities: old.identities.filter((i) => i?.id !== id), templates: old.templates.filter((t) => t?.identityId !== id) };
          },
        )
        .catch((e: unknown) => (unscrubbed = e));
      const folder = this.crops.folder(id);
      try {
        await this.#io.remove(folder);
        await this.#io.syncDir(this.crops.dir).catch(() => {});
      } catch (e) {
        throw writeError(folder, e, `belongs to deleted identity ${id} but could not be removed (the next sweep retries)`);
      }
      if (unscrubbed) throw unscrubbed;
      return { identityId: id, templates, removedPaths: [folder] };
    });
  }

  // ---- templates ------------------------------------------------------------------------------

  #modelDim(modelId: string, templates = this.#g.templates): number | undefined {
    return templates.find((t) => t.modelId === modelId)?.dim;
  }

  /** Writes a crop for a new template; returns its file name, or null if crops are off / none given. */
  async #writeCrop(identityId: string, templateId: string, jpeg: Uint8Array | undefined, written: string[]): Promise<string | null> {
    if (!jpeg || !this.#storage().keepCrops) return null;
    return this.crops.write(identityId, templateId, jpeg, written);
  }

  #encode(id: string, identityId: string, modelId: string, v: Float32Array, quality: number, source: TemplateSource, crop: string | null): TemplateRecord {
    const dtype = this.#storage().embeddingDtype;
    const rec: TemplateRecord = { id, identityId, modelId, dim: v.length, dtype, embedding: encodeEmbedding(v, dtype), quality, source, crop, created: now() };
    if (dtype === 'f32') this.#decoded.set(rec, v);
    return rec;
  }

  /**
   * Records for checked templates, with fresh ids: an existing crop is reused, otherwise the JPEG
   * (if any) is written and its path added to `written` so a failed commit can undo it.
   */
  async #newRecords(
    checked: readonly { identityId: string; modelId: string; embedding: Float32Array; quality: number; source: TemplateSource; crop: string | null; cropJpeg?: Uint8Array | undefined }[],
    written: string[],
  ): Promise<TemplateRecord[]> {
    const records: TemplateRecord[] = [];
    for (const t of checked) {
      const id = newId('template');
      const crop = t.crop ?? (await this.#writeCrop(t.identityId, id, t.cropJpeg, written));
      records.push(this.#encode(id, t.identityId, t.modelId, t.embedding, t.quality, t.source, crop));
    }
    return records;
  }

  /** New templates, validated: model id, embedding (normalised), one dimension per model, quality, source, crop. */
  #checkTemplates(inputs: readonly NewTemplate[]) {
    if (!Array.isArray(inputs) || inputs.length === 0) throw new GalleryError('INVALID_INPUT', 'no templates given');
    const dims = new Map<string, number>();
    return inputs.map((t, i) => {
      const what = `template ${i}`;
      const modelId = parseWith(ModelIdSchema, t?.modelId, `${what} model id`);
      const embedding = checkEmbedding(t.embedding, what);
      const want = dims.get(modelId) ?? this.#modelDim(modelId);
      if (want !== undefined && want !== embedding.length) {
        throw new GalleryError('INVALID_INPUT', `${what}: model ${modelId} embeddings have ${want} dims, got ${embedding.length}`);
      }
      dims.set(modelId, embedding.length);
      return {
        modelId,
        embedding,
        ...checkTemplateFields(t, what),
      };
    });
  }

  /** Enrolls templates for an identity in one write; crops are written first and removed again if the write fails. */
  addTemplates(identityId: string, inputs: readonly NewTemplate[]): Promise<Template[]> {
    return this.#exclusive(async () => {
      const ident = this.#record(identityId);
      const checked = this.#checkTemplates(inputs);
      const written: string[] = [];
      try {
        const records = await this.#newRecords(checked.map((t) => ({ ...t, identityId, crop: null })), written);
        const identities = this.#g.identities.map((i) => (i.id === identityId ? { ...ident, updated: now() } : i));
        await this.#commit({ ...this.#g, identities, templates: [...this.#g.templates, ...records] });
        return records.map(({ embedding: _, ...meta }) => meta);
      } catch (e) {
        await this.crops.undo(written, [identityId]);
        throw e;
      }
    });
  }

  /** Template metadata, optionally of one model, in enrollment order. */
  templates(modelId?: string): Template[] {
    return this.#g.templates.filter((t) => modelId === undefined || t.modelId === modelId).map(({ embedding: _, ...meta }) => meta);
  }

  /** The stored (unit-length) vector of a template. */
  embedding(templateId: string): Float32Array {
    assertId('template', templateId);
    const rec = this.#g.templates.find((t) => t.id === templateId);
    if (!rec) throw new GalleryError('NOT_FOUND', `no template ${templateId}`);
    return Float32Array.from(this.#vector(rec));
  }

  #vector(rec: TemplateRecord): Float32Array {
    let v = this.#decoded.get(rec);
    if (!v) {
      v = decodeEmbedding(rec.embedding, rec.dtype, rec.dim);
      // Half precision drifts off unit length; renormalise so cosine stays a plain dot product.
      if (rec.dtype === 'f16') normalizeInPlace(v);
      this.#decoded.set(rec, v);
    }
    return v;
  }

  /** Absolute path of a template's crop, or null when it has none. */
  cropPath(template: Pick<Template, 'identityId' | 'crop'>): string | null {
    return template.crop === null ? null : this.crops.path(template.identityId, template.crop);
  }

  /** Deletes crop files no remaining template points to. */
  async #removeUnreferencedCrops(dropped: readonly TemplateRecord[]): Promise<void> {
    const live = new Set(this.#g.templates.filter((t) => t.crop !== null).map((t) => `${t.identityId}/${t.crop}`));
    for (const t of dropped) {
      if (t.crop !== null && !live.has(`${t.identityId}/${t.crop}`)) await this.crops.remove(t.identityId, t.crop);
    }
  }

  removeTemplate(templateId: string): Promise<void> {
    return this.#exclusive(async () => {
      assertId('template', templateId);
      const rec = this.#g.templates.find((t) => t.id === templateId);
      if (!rec) throw new GalleryError('NOT_FOUND', `no template ${templateId}`);
      await this.#commit({ ...this.#g, templates: this.#g.templates.filter((t) => t !== rec) });
      await this.#removeUnreferencedCrops([rec]);
    });
  }

  /** Models present in the gallery with their template counts. */
  models(): { modelId: string; dim: number; templates: number; identities: number }[] {
    const m = new Map<string, { dim: number; templates: number; ids: Set<string> }>();
    for (const t of this.#g.templates) {
      const e = m.get(t.modelId) ?? { dim: t.dim, templates: 0, ids: new Set<string>() };
      e.templates++;
      e.ids.add(t.identityId);
      m.set(t.modelId, e);
    }
    return [...m].map(([modelId, e]) => ({ modelId, dim: e.dim, templates: e.templates, identities: e.ids.size }));
  }

  /**
   * Crops that still need an embedding from `modelId`: one item per crop of another model's
   * templates not yet covered by a `modelId` template of the same identity.
   */
  templatesNeedingReembed(modelId: string): ReembedItem[] {
    parseWith(ModelIdSchema, modelId, 'model id');
    const done = new Set(this.#g.templates.filter((t) => t.modelId === modelId && t.crop !== null).map((t) => `${t.identityId}/${t.crop}`));
    const out: ReembedItem[] = [];
    for (const t of this.#g.templates) {
      if (t.modelId === modelId || t.crop === null) continue;
      const key = `${t.identityId}/${t.crop}`;
      if (done.has(key)) continue;
      done.add(key);
      out.push({ templateId: t.id, identityId: t.identityId, modelId: t.modelId, crop: t.crop, cropPath: this.cropPath(t) as string, quality: t.quality, source: t.source });
    }
    return out;
  }

  /** Identities with no stored crop at all: they cannot be re-embedded for a new model or fine-tuned on, only re-enrolled. */
  identitiesWithoutCrops(): { identityId: string; name: string; templates: number }[] {
    const withCrop = new Set(this.#g.templates.filter((t) => t.crop !== null).map((t) => t.identityId));
    return this.#g.identities
      .filter((i) => !withCrop.has(i.id))
      .map((i) => ({ identityId: i.id, name: i.name, templates: this.#g.templates.filter((t) => t.identityId === i.id).length }));
  }

  /**
   * After re-embedding with a new model: in one atomic write, replaces every template of `modelId`
   * with `newTemplates`. Other models' templates stay for rollback unless keepOtherModels is false
   * (their crops stay while a new template still uses them). `activate` also makes `modelId`
   * the active model in the same write. `keepUnlisted`: a template of `modelId` that no new one
   * derives from (fromTemplateId) stays; the caller listed the ones it knew, so these were written
   * after it looked (an enrollment during a re-embed), and replacing would lose them.
   */
  replaceTemplatesForModel(
    modelId: string,
    newTemplates: readonly ReembeddedTemplate[],
    opts: { keepOtherModels?: boolean; activate?: boolean; reload?: boolean; keepUnlisted?: boolean } = {},
  ): Promise<Template[]> {
    return this.#exclusive(async () => {
      parseWith(ModelIdSchema, modelId, 'model id');
      if (opts.reload) {
        // Written from another process (the finetune CLI) after minutes of work: start from the
        // files as they are now, and drop templates of people or crops deleted meanwhile.
        await this.#load();
        const live = new Set(this.#g.templates.map((t) => t.id));
        newTemplates = newTemplates.filter((t) => this.#g.identities.some((i) => i.id === t.identityId) && (t.fromTemplateId === undefined || live.has(t.fromTemplateId)));
      }
      const keepOthers = opts.keepOtherModels ?? true;
      const byId = new Map(this.#g.templates.map((t) => [t.id, t]));
      let dim: number | undefined;
      const checked = newTemplates.map((t, i) => {
        const what = `template ${i}`;
        this.#record(t.identityId);
        const embedding = checkEmbedding(t.embedding, what);
        if (dim !== undefined && dim !== embedding.length) throw new GalleryError('INVALID_INPUT', `${what}: ${embedding.length} dims, others have ${dim}`);
        dim = embedding.length;
        let crop: string | null = null;
        if (t.fromTemplateId !== undefined) {
          assertId('template', t.fromTemplateId);
          const from = byId.get(t.fromTemplateId);
          if (!from || from.identityId !== t.identityId) throw new GalleryError('INVALID_INPUT', `${what}: fromTemplateId ${t.fromTemplateId} is not a template of ${t.identityId}`);
          crop = from.crop;
        }
        return {
          ...t,
          embedding,
          crop,
          ...checkTemplateFields(t, what),
        };
      });
      const written: string[] = [];
      try {
        const records = await this.#newRecords(checked.map((t) => ({ ...t, modelId })), written);
        const listed = new Set(checked.map((t) => t.fromTemplateId));
        const stays = (t: Template) => (t.modelId !== modelId ? keepOthers : opts.keepUnlisted === true && !listed.has(t.id));
        const dropped = this.#g.templates.filter((t) => !stays(t));
        const kept = this.#g.templates.filter(stays);
        const activeModelId = opts.activate ? modelId : this.#g.activeModelId;
        await this.#commit({ ...this.#g, activeModelId, templates: [...kept, ...records] });
        await this.#removeUnreferencedCrops(dropped);
        return records.map(({ embedding: _, ...meta }) => meta);
      } catch (e) {
        await this.crops.undo(written, checked.map((t) => t.identityId));
        throw e;
      }
    });
  }

  /** Drops a model's templates (e.g. the old model once the new one is trusted). Refuses the active model. */
  dropTemplatesForModel(modelId: string): Promise<number> {
    return this.#exclusive(async () => {
      parseWith(ModelIdSchema, modelId, 'model id');
      if (this.#g.activeModelId === modelId) throw new GalleryError('CONFLICT', `${modelId} is the active model; switch models before dropping its templates`);
      const dropped = this.#g.templates.filter((t) => t.modelId === modelId);
      if (dropped.length === 0) return 0;
      await this.#commit({ ...this.#g, templates: this.#g.templates.filter((t) => t.modelId !== modelId) });
      await this.#removeUnreferencedCrops(dropped);
      return dropped.length;
    });
  }

  /**
   * The model's templates as one contiguous unit-row matrix for search. Only templates of this
   * exact model id are included. Cached until the next write.
   */
  matrix(modelId: string): GalleryMatrix {
    const cached = this.#matrices.get(modelId);
    if (cached) return cached;
    const recs = this.#g.templates.filter((t) => t.modelId === modelId);
    const dim = recs[0]?.dim ?? 0;
    const matrix = new Float32Array(recs.length * dim);
    for (let r = 0; r < recs.length; r++) matrix.set(this.#vector(recs[r]), r * dim);
    const m: GalleryMatrix = {
      modelId,
      dim,
      rows: recs.length,
      matrix,
      templateIds: recs.map((t) => t.id),
      identityIds: recs.map((t) => t.identityId),
      revision: this.#revision,
    };
    this.#matrices.set(modelId, m);
    return m;
  }

  // ---- the active model ----------------------------------------------------------------------

  /** The model whose templates are searched; null until a model is chosen. */
  get activeModelId(): string | null {
    return this.#g.activeModelId;
  }

  setActiveModel(modelId: string): Promise<void> {
    return this.#exclusive(async () => {
      parseWith(ModelIdSchema, modelId, 'model id');
      if (this.#g.activeModelId !== modelId) await this.#commit({ ...this.#g, activeModelId: modelId });
    });
  }

  // ---- recovery -------------------------------------------------------------------------------

  /** Crop folders of people who no longer exist and crops no template names (see CropStore.sweep). */
  sweepCrops(removeStaleTemp: (dir: string, name: string) => Promise<boolean>): Promise<string[]> {
    return this.#exclusive(async () => {
      const ids = new Set(this.#g.identities.map((i) => i.id));
      const crops = new Set(this.#g.templates.filter((t) => t.crop !== null).map((t) => `${t.identityId}/${t.crop}`));
      return this.crops.sweep(ids, crops, removeStaleTemp);
    });
  }

  /** Ids of the people enrolled now. */
  identityIds(): Set<string> {
    return new Set(this.#g.identities.map((i) => i.id));
  }
}
