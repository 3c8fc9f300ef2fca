// Scans identity-per-folder face datasets into one labelled list for training.
import { readdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import path from 'node:path';

export const DEFAULT_IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'bmp', 'gif', 'tif', 'tiff', 'pgm'];

export interface DatasetItem {
  path: string;
  label: number;
}

export interface SkippedIdentity {
  identity: string;
  reason: string;
}

export interface RootSummary {
  root: string;
  /** Prefix of this root's identity names. */
  name: string;
  /** 'vggface2' = root/train/<id> + root/test/<id>; 'flat' = root/<id>. */
  layout: 'vggface2' | 'flat';
  identities: number;
  images: number;
  skippedIdentities: number;
  /** Top-level folders not read in the vggface2 layout (anything but train/ and test/). */
  ignoredDirs: string[];
}

export interface Dataset {
  /** Sorted identity names, `<root folder name>/<identity folder>`; label = index here. */
  classes: string[];
  /** Sorted by label, then path. Paths are absolute. */
  items: DatasetItem[];
  skipped: SkippedIdentity[];
  summary: RootSummary[];
}

export interface ScanOptions {
  /** Identities with fewer usable images are left out and listed in `skipped` (default 1). */
  minImagesPerClass?: number;
  /** Lower-case, without dot (default DEFAULT_IMAGE_EXTENSIONS). */
  extensions?: string[];
  /** Identity folder names to leave out, e.g. ['misc'] (listed in `skipped`). */
  exclude?: string[];
}

const VGG_SPLITS = ['train', 'test'];

/** Plain code-unit order, so the class list (and thus labels) never depends on the machine's locale. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function isDir(parent: string, e: Dirent): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await stat(path.join(parent, e.name)).catch(() => null))?.isDirectory() ?? false;
}

async function isFile(parent: string, e: Dirent): Promise<boolean> {
  if (e.isFile()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await stat(path.join(parent, e.name)).catch(() => null))?.isFile() ?? false;
}

async function subdirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.name.startsWith('.') && (await isDir(dir, e))) out.push(e.name);
  }
  return out.sort(byCodeUnit);
}

async function imageFiles(dir: string, exts: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const name = e.name;
    if (name.startsWith('.')) continue; // .DS_Store, editor temp files, our own atomic-write temps
    if (/^manifest\b/i.test(name)) continue; // written next to crops by some tools, whatever its extension
    const ext = path.extname(name).slice(1).toLowerCase();
    if (!exts.has(ext)) continue;
    if (await isFile(dir, e)) out.push(path.join(dir, name));
  }
  return out;
}

async function detectLayout(root: string): Promise<'vggface2' | 'flat'> {
  for (const s of VGG_SPLITS) {
    const p = path.join(root, s);
    const st = await stat(p).catch(() => null);
    // a train/ of identity folders, not an identity that happens to be called "train"
    if (st?.isDirectory() && (await subdirs(p)).length > 0) return 'vggface2';
  }
  return 'flat';
}

/**
 * Scans one or more dataset roots. Each root is either VGGFace2-style (root/train/<id>/*, root/test/<id>/*,
 * both used and merged per <id>) or plain (root/<id>/*). Identities are named `<basename(root)>/<id>` so the
 * same folder name in two datasets stays two classes. Hidden files, manifest files and files whose extension
 * is not an image extension are ignored; files directly inside a root are ignored.
 */
export async function scanDatasets(dirs: string[], opts: ScanOptions = {}): Promise<Dataset> {
  if (dirs.length === 0) throw new Error('scanDatasets: no dataset folder given');
  const minImages = opts.minImagesPerClass ?? 1;
  const exts = new Set((opts.extensions ?? DEFAULT_IMAGE_EXTENSIONS).map((e) => e.replace(/^\./, '').toLowerCase()));
  const exclude = new Set(opts.exclude ?? []);

  const roots = dirs.map((d) => path.resolve(d));
  const names = new Map<string, string>();
  for (const r of roots) {
    const name = path.basename(r);
    const prev = names.get(name);
    if (prev !== undefined) {
      throw new Error(`scanDatasets: ${prev} and ${r} have the same folder name "${name}", so their identities would collide`);
    }
    names.set(name, r);
  }

  const files = new Map<string, string[]>(); // identity -> image paths
  const skipped: SkippedIdentity[] = [];
  const summary: RootSummary[] = [];

  for (const root of roots) {
    const st = await stat(root).catch(() => null);
    if (!st?.isDirectory()) throw new Error(`scanDatasets: ${root} is not a folder`);
    const name = path.basename(root);
    const layout = await detectLayout(root);
    const parents = layout === 'vggface2' ? VGG_SPLITS.map((s) => path.join(root, s)) : [root];
    const ignoredDirs = layout === 'vggface2' ? (await subdirs(root)).filter((d) => !VGG_SPLITS.includes(d)) : [];

    const perId = new Map<string, string[]>();
    for (const parent of parents) {
      if (!(await stat(parent).catch(() => null))?.isDirectory()) continue; // VGGFace2 root with only train/
      for (const id of await subdirs(parent)) {
        const list = perId.get(id) ?? [];
        if (!exclude.has(id)) list.push(...(await imageFiles(path.join(parent, id), exts)));
        perId.set(id, list);
      }
    }

    let identities = 0;
    let images = 0;
    let skippedHere = 0;
    for (const [id, list] of perId) {
      const identity = `${name}/${id}`;
      let reason: string | null = null;
      if (exclude.has(id)) reason = 'excluded';
      else if (list.length === 0) reason = 'no images';
      else if (list.length < minImages) reason = `${list.length} image(s), fewer than ${minImages}`;
      if (reason) {
        skipped.push({ identity, reason });
        skippedHere++;
        continue;
      }
      files.set(identity, list);
      identities++;
      images += list.length;
    }
    summary.push({ root, name, layout, identities, images, skippedIdentities: skippedHere, ignoredDirs });
  }

  const classes = [...files.keys()].sort(byCodeUnit);
  const items: DatasetItem[] = [];
  classes.forEach((identity, label) => {
    for (const p of files.get(identity)!.sort(byCodeUnit)) items.push({ path: p, label });
  });
  skipped.sort((a, b) => byCodeUnit(a.identity, b.identity));
  return { classes, items, skipped, summary };
}
