// The presentation-attack test set, rebuilt deterministically from read-only data (docs/pad.md):
//
//   bona fide  windows of the talking-head clips (shared/data/video/talking-heads), frames
//              extracted with ffmpeg at the kiosk camera's 15 fps, fitted inside 640x480;
//   print      a still frame of the same clip printed (paper tone, ink spread, border) and moved
//              by a hand in 3-D (shift, scale, roll, yaw, pitch, tremor) in front of a room;
//   replay     the same still on a phone screen: emissive tone, moire fringes, bezel, a lamp's
//              glare that slides over the glass as it tilts; moved like the print;
//   photo      the print alone, held still, filling most of the view.
//
// Every attack frame also gets fresh sensor noise and a JPEG round trip (a webcam's MJPEG).
// The six stills in the same folder (other people) give extra attacks. Clips and stills are split
// by person into a calibration half (thresholds are chosen there) and a report half (the figures
// quoted); see SPLITS. Output: <root>/manifest.json and JPEG frames, under data-prepared/ (not
// committed).
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RgbImage } from '../vision/types.js';
import { addGlare, asPrint, asScreen, background, cameraNoise, composite, jpegRoundTrip, planeHomography, resize, toRaw } from './attack-render.js';
import { makeRng } from './rng.js';
import { PRINT_SWAY, SCREEN_SWAY, staticTrajectory, swayTrajectory } from './trajectory.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../..');
export const TALKING_HEADS = path.resolve(REPO_ROOT, '../shared/data/video/talking-heads');
export const DEFAULT_ROOT = path.join(REPO_ROOT, 'data-prepared', 'pad');

/** Bumped whenever the recipe changes, so an old build is not reused. */
export const ATTACK_SET_VERSION = 3;

export type Split = 'calibration' | 'report';
export type PresentationKind = 'bona-fide' | 'print' | 'replay' | 'photo';
export const ATTACK_KINDS = ['print', 'replay', 'photo'] as const;
export type AttackKind = (typeof ATTACK_KINDS)[number];

/**
 * Person-disjoint halves (each clip and each still shows a different person), balanced by clip
 * length: 71.6 s of calibration video, 79.8 s of report video.
 */
export const SPLITS: Record<Split, { clips: string[]; stills: string[] }> = {
  calibration: { clips: ['d0', 'd11', 'd13', 'd18', 'd20', 'd6'], stills: ['d12', 'd30', 'd8'] },
  report: { clips: ['d10', 'd12', 'd14', 'd19', 'd3', 'd9'], stills: ['d19', 'd38', 'd9'] },
};

export interface Presentation {
  id: string;
  split: Split;
  kind: PresentationKind;
  /** The clip or still it comes from ('d9.mp4', 'd38.jpg'). */
  source: string;
  /** Frame files, relative to the set's root. */
  frames: string[];
  fps: number;
  /** For attacks: the clip frame used as the photo (1-based), when from a clip. */
  stillFrame?: number;
}

export interface AttackSetOptions {
  root?: string;
  dataDir?: string;
  fps?: number;
  /** Frames per presentation. */
  frames?: number;
  /** Bona fide windows taken per clip at most (evenly spread over the clip). */
  maxWindowsPerClip?: number;
  /** Attacks per clip for each kind (print, replay, photo), and per still. */
  perClip?: Record<AttackKind, number>;
  perStill?: Record<AttackKind, number>;
  /** Progress lines go here. */
  log?: (line: string) => void;
  /** Rebuild even if a matching manifest exists. */
  force?: boolean;
}

export interface AttackSet {
  root: string;
  version: number;
  options: Required<Omit<AttackSetOptions, 'root' | 'dataDir' | 'log' | 'force'>>;
  presentations: Presentation[];
}

const DEFAULTS = {
  fps: 15,
  frames: 30,
  maxWindowsPerClip: 6,
  perClip: { print: 2, replay: 2, photo: 1 },
  perStill: { print: 1, replay: 1, photo: 1 },
};

/** Absolute path of an executable on PATH, or null. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Extracts a clip's frames at `fps`, fitted inside 640x480, as JPEG; reuses a finished extraction. */
export async function extractClipFrames(clip: string, outDir: string, fps: number, dataDir = TALKING_HEADS, ffmpegPath = 'ffmpeg'): Promise<string[]> {
  const done = path.join(outDir, '.done');
  if (!existsSync(done)) {
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    await run(ffmpegPath, [
      '-v', 'error', '-nostdin', '-i', path.join(dataDir, `${clip}.mp4`),
      '-vf', `fps=${fps},scale=640:480:force_original_aspect_ratio=decrease:flags=area`,
      '-q:v', '3', '-threads', '1', path.join(outDir, '%04d.jpg'),
    ]);
    await writeFile(done, '');
  }
  return (await readdir(outDir)).filter((f) => f.endsWith('.jpg')).sort();
}

/** Starts of up to `max` non-overlapping windows of `n` frames, evenly spread over `total`. */
export function windowStarts(total: number, n: number, max: number): number[] {
  const fit = Math.floor(total / n);
  if (fit === 0) return [];
  const k = Math.min(fit, max);
  const slack = total - k * n;
  return Array.from({ length: k }, (_, i) => i * n + Math.round((slack * (i + 0.5)) / k));
}

export interface AttackSpec {
  kind: AttackKind;
  /** The photo: a clip frame or a still. */
  photo: RgbImage;
  frameWidth: number;
  frameHeight: number;
  frames: number;
  fps: number;
  seed: string;
}

/** Renders one attack presentation: JPEG frames as a webcam would deliver them. */
export async function renderAttack(spec: AttackSpec): Promise<Buffer[]> {
  const rng = makeRng(spec.seed);
  const { frameWidth: fw, frameHeight: fh, frames: n } = spec;
  const bg = await background(fw, fh, rng);
  const look = spec.kind === 'replay' ? await asScreen(spec.photo, rng) : await asPrint(spec.photo, rng);
  // Held at arm's length, the photo (with its border) spans 65-85 % of the frame's shorter side;
  // the photo alone fills 95-110 %.
  const side = Math.min(fw, fh);
  const span = spec.kind === 'photo' ? rng.uniform(0.95, 1.1) : rng.uniform(0.65, 0.85);
  const scale = (span * side) / Math.max(look.width, look.height);
  const poses = spec.kind === 'photo' ? staticTrajectory(rng, n, scale) : swayTrajectory(rng, n, spec.fps, fw, fh, scale, spec.kind === 'replay' ? SCREEN_SWAY : PRINT_SWAY);
  const lamp = { x: rng.uniform(0.25, 0.75) * fw, y: rng.uniform(0.15, 0.5) * fh, peak: rng.uniform(90, 170), r: rng.uniform(0.12, 0.25) * side, veil: rng.uniform(6, 18) };
  const baseGain = rng.uniform(0.9, 1.08);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const pose = poses[i]!;
    const H = planeHomography(pose, look.width, look.height, fw, fh);
    let frame = composite(bg, look, H);
    if (spec.kind === 'replay') {
      // Glossy glass: tilting the phone slides the lamp's reflection across it.
      const F = 0.8 * fw;
      frame = addGlare(frame, H, look.width, look.height, {
        cx: lamp.x + pose.tx - F * Math.tan(pose.yaw), cy: lamp.y + pose.ty + F * Math.tan(pose.pitch),
        rx: lamp.r * 1.6, ry: lamp.r, angle: pose.roll + 0.4, peak: lamp.peak, veil: lamp.veil,
      });
    }
    frame = cameraNoise(frame, rng, rng.uniform(1.5, 3), baseGain * (1 + 0.01 * Math.sin(i / 3)));
    out.push((await jpegRoundTrip(frame, 85)).jpeg);
  }
  return out;
}

async function readImage(file: string): Promise<RgbImage> {
  return toRaw(await readFile(file));
}

/** Fits a still inside 480x480 (the clips' frame size) as the photo. */
async function stillPhoto(file: string): Promise<RgbImage> {
  const img = await readImage(file);
  const s = Math.min(480 / img.width, 480 / img.height);
  return resize(img, Math.round(img.width * s), Math.round(img.height * s));
}

async function writeFrames(dir: string, jpegs: Buffer[]): Promise<string[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < jpegs.length; i++) {
    const name = `${String(i + 1).padStart(4, '0')}.jpg`;
    await writeFile(path.join(dir, name), jpegs[i]!);
    names.push(name);
  }
  return names;
}

function optionsKey(o: AttackSet['options']): string {
  return JSON.stringify(o);
}

/**
 * Builds (or reuses) the set under `root`. Deterministic: the same options give the same frames.
 * Needs ffmpeg on PATH for the clips.
 */
export async function buildAttackSet(opts: AttackSetOptions = {}): Promise<AttackSet> {
  const root = opts.root ?? DEFAULT_ROOT;
  const dataDir = opts.dataDir ?? TALKING_HEADS;
  const options: AttackSet['options'] = {
    fps: opts.fps ?? DEFAULTS.fps,
    frames: opts.frames ?? DEFAULTS.frames,
    maxWindowsPerClip: opts.maxWindowsPerClip ?? DEFAULTS.maxWindowsPerClip,
    perClip: opts.perClip ?? DEFAULTS.perClip,
    perStill: opts.perStill ?? DEFAULTS.perStill,
  };
  const splits: Split[] = ['calibration', 'report'];
  const log = opts.log ?? (() => {});
  const manifestFile = path.join(root, 'manifest.json');
  if (!opts.force && existsSync(manifestFile)) {
    const old = JSON.parse(await readFile(manifestFile, 'utf8')) as AttackSet;
    if (old.version === ATTACK_SET_VERSION && optionsKey(old.options) === optionsKey(options)) return { ...old, root };
  }
  await mkdir(root, { recursive: true });
  const presentations: Presentation[] = [];
  const { fps, frames: n } = options;
  for (const split of splits) {
    for (const clip of SPLITS[split].clips) {
      const frameDir = path.join(root, 'frames', clip);
      const files = await extractClipFrames(clip, frameDir, fps, dataDir);
      const starts = windowStarts(files.length, n, options.maxWindowsPerClip);
      starts.forEach((s, w) => {
        presentations.push({
          id: `${split}/bona-fide/${clip}-w${w}`, split, kind: 'bona-fide', source: `${clip}.mp4`, fps,
          frames: files.slice(s, s + n).map((f) => path.join('frames', clip, f)),
        });
      });
      log(`${clip}: ${files.length} frames, ${starts.length} bona fide windows`);
      const rng = makeRng(`stills/${clip}`);
      for (const kind of ATTACK_KINDS) {
        for (let k = 0; k < options.perClip[kind]; k++) {
          // The photo: a frame from the middle 80 % of the clip.
          const idx = Math.floor(files.length * rng.uniform(0.1, 0.9));
          const photo = await readImage(path.join(frameDir, files[idx]!));
          const id = `${split}/${kind}/${clip}-${k}`;
          const jpegs = await renderAttack({ kind, photo, frameWidth: photo.width, frameHeight: photo.height, frames: n, fps, seed: id });
          const names = await writeFrames(path.join(root, id), jpegs);
          presentations.push({ id, split, kind, source: `${clip}.mp4`, fps, stillFrame: idx + 1, frames: names.map((f) => path.join(id, f)) });
        }
      }
    }
    for (const still of SPLITS[split].stills) {
      const photo = await stillPhoto(path.join(dataDir, `${still}.jpg`));
      for (const kind of ATTACK_KINDS) {
        for (let k = 0; k < options.perStill[kind]; k++) {
          const id = `${split}/${kind}/${still}jpg-${k}`;
          const jpegs = await renderAttack({ kind, photo, frameWidth: 480, frameHeight: 480, frames: n, fps, seed: id });
          const names = await writeFrames(path.join(root, id), jpegs);
          presentations.push({ id, split, kind, source: `${still}.jpg`, fps, frames: names.map((f) => path.join(id, f)) });
        }
      }
      log(`${still}.jpg: attacks rendered`);
    }
  }
  const set: AttackSet = { root, version: ATTACK_SET_VERSION, options, presentations };
  await writeFile(manifestFile, JSON.stringify({ ...set, root: undefined }, null, 1));
  return set;
}
