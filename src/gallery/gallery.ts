// The enrollment gallery: identities, their face templates (embeddings) per model, settings and
// an activity log, kept under one directory:
//
//   <dir>/gallery.json                       identities, templates, settings (lowdb, atomic writes)
//   <dir>/activity.json                      decision log + last-seen times (written per decision,
//                                            so a pass through the gate does not rewrite templates)
//   <dir>/faces/<identityId>/<templateId>.jpg aligned crops, for re-embedding / fine-tuning
//   <dir>/snapshots/<activityId>.jpg         optional frames of logged decisions
//
// All writes go through one queue; in-memory state only changes after the file write succeeded,
// so readers (all synchronous) see the last durable state, never a partial one.
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Low } from 'lowdb';
import type { z } from 'zod';
import { AtomicJsonFile, TEMP_FILE, atomicWrite, nodeIo, writeError, type FileIo } from './atomic-file.js';
import { decodeEmbedding, encodeEmbedding } from './embedding-codec.js';
import { normalizeInPlace } from '../match/vector.js';
import { GalleryError } from './errors.js';
import { assertId, childPath, isId, newId } from './ids.js';
import { ownedByAnotherProcess } from '../owner/lock.js';
import {
  ActivityEntrySchema,
  ActivityFileSchema,
  CROP_FILE,
  GalleryFileSchema,
  IdentityPatchSchema,
  ModelIdSchema,
  NewIdentitySchema,
  SNAPSHOT_FILE,
  SettingsSchema,
  SourceSchema,
  type ActivityEntry,
  type ActivityFile,
  type GalleryFile,
  type IdentityPatch,
  type IdentityRecord,
  type NewIdentity,
  type Settings,
  type SettingsPatch,
  type TemplateRecord,
} from './schema.js';

export type { ActivityEntry, IdentityPatch, NewIdentity, Settings, SettingsPatch } from './schema.js';

export interface GalleryOptions {
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
  activityEntries: number;
  /** Files and folders removed (that existed or not). */
  removedPaths: string[];
}

export interface LogDecisionInput {
  /** 'match', 'unknown', 'verify-accept', 'verify-reject', ... (lower-case word). */
  decision: string;
  identityId?: string | null;
  score?: number | null;
  metric?: 'cosine' | 'euclidean' | null;
  modelId?: string | null;
  /** Frame of the decision (JPEG); kept only when settings.keepSnapshots is on. */
  snapshotJpeg?: Uint8Array;
  detail?: string | null;
  time?: Date;
}

export interface ActivityQuery {
  /** Newest first; default 100. */
  limit?: number;
  filter?: {
    identityId?: string;
    decision?: string | readonly string[];
    since?: Date | string;
    until?: Date | string;
  };
}

export interface SweepReport {
  removedPaths: string[];
  activityEntries: number;
}

/** Decisions that update an identity's lastSeen. */
export const ACCEPT_DECISIONS: readonly string[] = ['match', 'verify-accept', 'accept'];

const MAX_DIM = 8192;
const MAX_JPEG_BYTES = 10 * 1024 * 1024;

function invalid(error: z.ZodError, what: string): GalleryError {
  const msg = error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
  return new GalleryError('INVALID_INPUT', `invalid ${what}: ${msg}`);
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error, what);
  return r.data;
}

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

function checkJpeg(b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array)) throw new GalleryError('INVALID_INPUT', `${what}: crop must be JPEG bytes (Buffer)`);
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) throw new GalleryError('INVALID_INPUT', `${what}: crop is not a JPEG`);
  if (b.length > MAX_JPEG_BYTES) throw new GalleryError('INVALID_INPUT', `${what}: crop larger than ${MAX_JPEG_BYTES} bytes`);
  return b;
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

export class Gallery {
  readonly dir: string;
  readonly file: string;
  readonly activityFile: string;
  readonly facesDir: string;
  readonly snapshotsDir: string;
  readonly #io: FileIo;
  readonly #erasureDirs: string[];
  readonly #staleTempMs: number;
  readonly #db: Low<GalleryFile>;
  readonly #act: Low<ActivityFile>;
  #queue: Promise<unknown> = Promise.resolve();
  #revision = 0;
  #closed = false;
  readonly #matrices = new Map<string, GalleryMatrix>();
  /** Records are never mutated (every change makes new objects), so decoded vectors can be cached by record. */
  #decoded = new WeakMap<TemplateRecord, Float32Array>();

  private constructor(dir: string, opts: GalleryOptions) {
    this.dir = dir;
    this.file = path.join(dir, 'gallery.json');
    this.activityFile = path.join(dir, 'activity.json');
    this.facesDir = path.join(dir, 'faces');
    this.snapshotsDir = path.join(dir, 'snapshots');
    this.#io = opts.io ?? nodeIo;
    this.#erasureDirs = (opts.erasureDirs ?? ['finetune']).map((d) => path.resolve(dir, d));
    this.#staleTempMs = opts.staleTempMs ?? 60_000;
    const parseGallery = (raw: unknown): GalleryFile => {
      const r = GalleryFileSchema.safeParse(raw);
      if (!r.success) throw new GalleryError('CORRUPT', `${this.file} does not validate: ${invalid(r.error, 'gallery').message}`);
      checkIntegrity(r.data, this.file);
      return r.data;
    };
    const parseActivity = (raw: unknown): ActivityFile => {
      const r = ActivityFileSchema.safeParse(raw);
      if (!r.success) throw new GalleryError('CORRUPT', `${this.activityFile} does not validate: ${invalid(r.error, 'activity log').message}`);
      return r.data;
    };
    this.#db = new Low(new AtomicJsonFile(this.file, parseGallery, this.#io), Gallery.#emptyGallery());
    this.#act = new Low(new AtomicJsonFile(this.activityFile, parseActivity, this.#io), Gallery.#emptyActivity());
  }

  static #emptyGallery(): GalleryFile {
    return { format: 'facegate-gallery', version: 1, settings: SettingsSchema.parse({}), identities: [], templates: [] };
  }

  static #emptyActivity(): ActivityFile {
    return { format: 'facegate-activity', version: 1, entries: [], lastSeen: {} };
  }

  /** Opens (creating if needed) the gallery in `dir`. Throws GalleryError CORRUPT on an invalid file, never overwriting it. */
  static async open(dir = 'enrolled', opts: GalleryOptions = {}): Promise<Gallery> {
    const abs = path.resolve(dir);
    await mkdir(abs, { recursive: true });
    const g = new Gallery(abs, opts);
    await g.#load();
    if ((opts.sweepOnOpen ?? true) && !(await ownedByAnotherProcess(abs))) await g.sweepOrphans();
    return g;
  }

  async #load(): Promise<void> {
    const [gallery, activity] = [await this.#db.adapter.read(), await this.#act.adapter.read()];
    if (gallery) this.#db.data = gallery;
    else await this.#commit(Gallery.#emptyGallery());
    if (activity) this.#act.data = activity;
    else await this.#commitActivity(Gallery.#emptyActivity());
    this.#revision++;
    this.#matrices.clear();
  }

  /** Re-reads both files (another process, e.g. the CLI, may have changed them). */
  reload(): Promise<void> {
    return this.#exclusive(() => this.#load());
  }

  /** Increments on every change of identities, templates or settings. */
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

  async #commitActivity(next: ActivityFile): Promise<void> {
    await this.#act.adapter.write(next);
    this.#act.data = next;
  }

  get #g(): GalleryFile {
    return this.#db.data;
  }

  // ---- identities -----------------------------------------------------------------------------

  #view(rec: IdentityRecord): Identity {
    let n = 0;
    for (const t of this.#g.templates) if (t.identityId === rec.id) n++;
    return { ...rec, threshold: { ...rec.threshold }, lastSeen: this.#act.data.lastSeen[rec.id] ?? null, templateCount: n };
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
      .map((rec) => ({ ...rec, threshold: { ...rec.threshold }, lastSeen: this.#act.data.lastSeen[rec.id] ?? null, templateCount: counts.get(rec.id) ?? 0 }))
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

  addIdentity(input: NewIdentity): Promise<Identity> {
    return this.#exclusive(async () => {
      const v = parseWith(NewIdentitySchema, input, 'identity');
      this.#checkBadgeFree(v.badge);
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
      await this.#commit({ ...this.#g, identities: [...this.#g.identities, rec] });
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
   * Right to erasure: the identity, its templates, crops, activity entries (and their snapshots),
   * last-seen time and its folder in every erasure dir. The JSON files are committed first; if
   * removing files then fails, the error says so and the next open's sweep finishes the job.
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
      const act = this.#act.data;
      const gone = act.entries.filter((e) => e.identityId === id);
      if (gone.length > 0 || id in act.lastSeen) {
        const lastSeen = { ...act.lastSeen };
        delete lastSeen[id];
        await this.#commitActivity({ ...act, entries: act.entries.filter((e) => e.identityId !== id), lastSeen });
      }
      const removedPaths = [
        childPath(this.facesDir, id),
        ...gone.filter((e) => e.snapshot !== null).map((e) => childPath(this.snapshotsDir, e.snapshot as string)),
        ...this.#erasureDirs.map((d) => childPath(d, id)),
      ];
      try {
        for (const p of removedPaths) await this.#io.remove(p);
        for (const d of new Set(removedPaths.map((p) => path.dirname(p)))) await this.#io.syncDir(d).catch(() => {});
      } catch (e) {
        throw writeError(removedPaths.join(', '), e, `belong to deleted identity ${id} but could not all be removed (sweepOrphans() retries)`);
      }
      return { identityId: id, templates, activityEntries: gone.length, removedPaths };
    });
  }

  // ---- templates ------------------------------------------------------------------------------

  #modelDim(modelId: string, templates = this.#g.templates): number | undefined {
    return templates.find((t) => t.modelId === modelId)?.dim;
  }

  /** Writes a crop for a new template; returns its file name, or null if crops are off / none given. */
  async #writeCrop(identityId: string, templateId: string, jpeg: Uint8Array | undefined, written: string[]): Promise<string | null> {
    if (!jpeg || !this.#g.settings.keepCrops) return null;
    const dir = childPath(this.facesDir, identityId);
    const name = `${templateId}.jpg`;
    const file = childPath(dir, name);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw writeError(dir, e);
    }
    await atomicWrite(file, jpeg, this.#io);
    written.push(file);
    return name;
  }

  /** Removes crops written by a failed operation, and the folders it left empty. */
  async #undoCrops(written: readonly string[], identityIds: Iterable<string>): Promise<void> {
    for (const f of written) await this.#io.remove(f).catch(() => {});
    // rmdir fails on non-empty folders, which is what we want.
    for (const id of new Set(identityIds)) await rmdir(childPath(this.facesDir, id)).catch(() => {});
    await rmdir(this.facesDir).catch(() => {});
  }

  #encode(id: string, identityId: string, modelId: string, v: Float32Array, quality: number, source: TemplateSource, crop: string | null): TemplateRecord {
    const dtype = this.#g.settings.embeddingDtype;
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

  /** Enrolls templates for an identity in one write; crops are written first and removed again if the write fails. */
  addTemplates(identityId: string, inputs: readonly NewTemplate[]): Promise<Template[]> {
    return this.#exclusive(async () => {
      const ident = this.#record(identityId);
      if (!Array.isArray(inputs) || inputs.length === 0) throw new GalleryError('INVALID_INPUT', 'no templates given');
      const dims = new Map<string, number>();
      const checked = inputs.map((t, i) => {
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
      const written: string[] = [];
      try {
        const records = await this.#newRecords(checked.map((t) => ({ ...t, identityId, crop: null })), written);
        const identities = this.#g.identities.map((i) => (i.id === identityId ? { ...ident, updated: now() } : i));
        await this.#commit({ ...this.#g, identities, templates: [...this.#g.templates, ...records] });
        return records.map(({ embedding: _, ...meta }) => meta);
      } catch (e) {
        await this.#undoCrops(written, [identityId]);
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
    if (template.crop === null) return null;
    assertId('identity', template.identityId);
    if (!CROP_FILE.test(template.crop)) throw new GalleryError('INVALID_ID', `invalid crop name ${JSON.stringify(template.crop)}`);
    return childPath(childPath(this.facesDir, template.identityId), template.crop);
  }

  /** Deletes crop files no remaining template points to. */
  async #removeUnreferencedCrops(dropped: readonly TemplateRecord[]): Promise<void> {
    const live = new Set(this.#g.templates.filter((t) => t.crop !== null).map((t) => `${t.identityId}/${t.crop}`));
    for (const t of dropped) {
      if (t.crop !== null && !live.has(`${t.identityId}/${t.crop}`)) await this.#io.remove(this.cropPath(t) as string);
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
   * (their crops stay while a new template still uses them). `activate` also switches
   * settings.activeModelId in the same write.
   */
  replaceTemplatesForModel(
    modelId: string,
    newTemplates: readonly ReembeddedTemplate[],
    opts: { keepOtherModels?: boolean; activate?: boolean; reload?: boolean } = {},
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
        const dropped = this.#g.templates.filter((t) => t.modelId === modelId || !keepOthers);
        const kept = this.#g.templates.filter((t) => t.modelId !== modelId && keepOthers);
        const settings = opts.activate ? { ...this.#g.settings, activeModelId: modelId } : this.#g.settings;
        await this.#commit({ ...this.#g, settings, templates: [...kept, ...records] });
        await this.#removeUnreferencedCrops(dropped);
        return records.map(({ embedding: _, ...meta }) => meta);
      } catch (e) {
        await this.#undoCrops(written, checked.map((t) => t.identityId));
        throw e;
      }
    });
  }

  /** Drops a model's templates (e.g. the old model once the new one is trusted). Refuses the active model. */
  dropTemplatesForModel(modelId: string): Promise<number> {
    return this.#exclusive(async () => {
      parseWith(ModelIdSchema, modelId, 'model id');
      if (this.#g.settings.activeModelId === modelId) throw new GalleryError('CONFLICT', `${modelId} is the active model; switch models before dropping its templates`);
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

  // ---- settings -------------------------------------------------------------------------------

  getSettings(): Settings {
    return structuredClone(this.#g.settings);
  }

  /** Deep-merges the patch and validates the result (unknown keys are errors). A patch that changes nothing writes nothing. */
  updateSettings(patch: SettingsPatch): Promise<Settings> {
    return this.#exclusive(async () => {
      if (!isPlainObject(patch)) throw new GalleryError('INVALID_INPUT', 'settings patch must be an object');
      const settings = parseWith(SettingsSchema, deepMerge(this.#g.settings, patch), 'settings');
      if (!isDeepStrictEqual(settings, this.#g.settings)) await this.#commit({ ...this.#g, settings });
      return structuredClone(settings);
    });
  }

  // ---- activity -------------------------------------------------------------------------------

  /**
   * Appends a decision. Accepted decisions update the identity's lastSeen. Beyond
   * settings.activityCap the oldest entries (and their snapshots) are dropped.
   */
  logDecision(input: LogDecisionInput): Promise<ActivityEntry> {
    return this.#exclusive(async () => {
      const identityId = input.identityId ?? null;
      // A deleted identity must not come back through the log (erasure).
      if (identityId !== null) this.#record(identityId);
      const id = newId('activity');
      const time = (input.time ?? new Date()).toISOString();
      const draft = {
        id,
        time,
        decision: input.decision,
        identityId,
        score: input.score ?? null,
        metric: input.metric ?? null,
        modelId: input.modelId ?? null,
        snapshot: null as string | null,
        detail: input.detail ?? null,
      };
      const entry = parseWith(ActivityEntrySchema, draft, 'activity entry');
      if (entry.score !== null && !Number.isFinite(entry.score)) throw new GalleryError('INVALID_INPUT', 'score must be finite');
      let snapFile: string | null = null;
      if (input.snapshotJpeg !== undefined && this.#g.settings.keepSnapshots) {
        const jpeg = checkJpeg(input.snapshotJpeg, 'snapshot');
        entry.snapshot = `${id}.jpg`;
        snapFile = childPath(this.snapshotsDir, entry.snapshot);
        try {
          await mkdir(this.snapshotsDir, { recursive: true });
        } catch (e) {
          throw writeError(this.snapshotsDir, e);
        }
        await atomicWrite(snapFile, jpeg, this.#io);
      }
      const act = this.#act.data;
      const cap = this.#g.settings.activityCap;
      const all = [...act.entries, entry];
      const evicted = all.length > cap ? all.slice(0, all.length - cap) : [];
      const lastSeen = identityId !== null && ACCEPT_DECISIONS.includes(entry.decision) ? { ...act.lastSeen, [identityId]: time } : act.lastSeen;
      try {
        await this.#commitActivity({ ...act, entries: all.slice(evicted.length), lastSeen });
      } catch (e) {
        if (snapFile) await this.#io.remove(snapFile).catch(() => {});
        throw e;
      }
      for (const e of evicted) if (e.snapshot) await this.#io.remove(childPath(this.snapshotsDir, e.snapshot)).catch(() => {});
      return { ...entry };
    });
  }

  /** Newest first. */
  activity(query: ActivityQuery = {}): ActivityEntry[] {
    const limit = Math.max(0, query.limit ?? 100);
    const f = query.filter ?? {};
    if (f.identityId !== undefined) assertId('identity', f.identityId);
    const decisions = f.decision === undefined ? undefined : new Set(typeof f.decision === 'string' ? [f.decision] : f.decision);
    const time = (v: Date | string | undefined, what: string) => {
      if (v === undefined) return undefined;
      const t = new Date(v).getTime();
      if (Number.isNaN(t)) throw new GalleryError('INVALID_INPUT', `activity filter: invalid ${what} time`);
      return t;
    };
    const since = time(f.since, 'since');
    const until = time(f.until, 'until');
    const out: ActivityEntry[] = [];
    const entries = [...this.#act.data.entries].sort((a, b) => b.time.localeCompare(a.time));
    for (const e of entries) {
      if (out.length >= limit) break;
      if (f.identityId !== undefined && e.identityId !== f.identityId) continue;
      if (decisions && !decisions.has(e.decision)) continue;
      const t = Date.parse(e.time);
      if (since !== undefined && t < since) continue;
      if (until !== undefined && t > until) continue;
      out.push({ ...e });
    }
    return out;
  }

  snapshotPath(entry: Pick<ActivityEntry, 'snapshot'>): string | null {
    if (entry.snapshot === null) return null;
    if (!SNAPSHOT_FILE.test(entry.snapshot)) throw new GalleryError('INVALID_ID', `invalid snapshot name ${JSON.stringify(entry.snapshot)}`);
    return childPath(this.snapshotsDir, entry.snapshot);
  }

  // ---- recovery -------------------------------------------------------------------------------

  /**
   * Removes what interrupted operations can leave behind: temp files of dead writers, crops and
   * erasure-dir folders of identities that no longer exist (an erasure cut short), crops and
   * snapshots nothing refers to, and log entries of deleted identities. Only names matching the
   * gallery's own patterns are touched.
   */
  sweepOrphans(): Promise<SweepReport> {
    return this.#exclusive(async () => {
      const removed: string[] = [];
      const rm = async (p: string) => {
        await this.#io.remove(p);
        removed.push(p);
      };
      const list = async (dir: string) => {
        try {
          return await readdir(dir, { withFileTypes: true });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
          throw e;
        }
      };
      const staleTemp = async (dir: string, name: string) => {
        if (!TEMP_FILE.test(name)) return false;
        const p = path.join(dir, name);
        try {
          if (Date.now() - (await stat(p)).mtimeMs < this.#staleTempMs) return false;
        } catch {
          return false;
        }
        await rm(p);
        return true;
      };
      const ids = new Set(this.#g.identities.map((i) => i.id));
      const crops = new Set(this.#g.templates.filter((t) => t.crop !== null).map((t) => `${t.identityId}/${t.crop}`));

      // Log entries of identities that are gone (erasure interrupted between the two files).
      const act = this.#act.data;
      const orphanEntries = act.entries.filter((e) => e.identityId !== null && !ids.has(e.identityId));
      const orphanSeen = Object.keys(act.lastSeen).filter((k) => !ids.has(k));
      if (orphanEntries.length > 0 || orphanSeen.length > 0) {
        const lastSeen = Object.fromEntries(Object.entries(act.lastSeen).filter(([k]) => ids.has(k)));
        await this.#commitActivity({ ...act, entries: act.entries.filter((e) => !orphanEntries.includes(e)), lastSeen });
      }

      for (const e of await list(this.dir)) if (e.isFile()) await staleTemp(this.dir, e.name);
      for (const e of await list(this.facesDir)) {
        if (!e.isDirectory() || !isId('identity', e.name)) continue;
        const dir = path.join(this.facesDir, e.name);
        if (!ids.has(e.name)) {
          await rm(dir);
          continue;
        }
        for (const f of await list(dir)) {
          if (!f.isFile() || (await staleTemp(dir, f.name))) continue;
          if (CROP_FILE.test(f.name) && !crops.has(`${e.name}/${f.name}`)) await rm(path.join(dir, f.name));
        }
      }
      const snaps = new Set(this.#act.data.entries.map((e) => e.snapshot).filter((s) => s !== null));
      for (const f of await list(this.snapshotsDir)) {
        if (!f.isFile() || (await staleTemp(this.snapshotsDir, f.name))) continue;
        if (SNAPSHOT_FILE.test(f.name) && !snaps.has(f.name)) await rm(path.join(this.snapshotsDir, f.name));
      }
      for (const d of this.#erasureDirs) {
        for (const e of await list(d)) if (isId('identity', e.name) && !ids.has(e.name)) await rm(path.join(d, e.name));
      }
      return { removedPaths: removed, activityEntries: orphanEntries.length };
    });
  }
}
