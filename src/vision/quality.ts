// Is this face good enough to enrol / verify / train on? Each check has a threshold in
// QualityConfig and a short instruction the kiosk can show.
import { alignFace } from './align.js';
import type { Box, DetectedFace, Point, RgbImage } from './types.js';

export type QualityCode =
  | 'multiple_faces'
  | 'too_small'
  | 'off_frame'
  | 'pose'
  | 'too_dark'
  | 'too_bright'
  | 'low_contrast'
  | 'blurry';

/** What the kiosk shows for each failed check, most actionable first. */
export const QUALITY_MESSAGES: Readonly<Record<QualityCode, string>> = Object.freeze({
  multiple_faces: 'One person at a time',
  too_small: 'Come closer',
  off_frame: 'Move into the middle of the frame',
  pose: 'Look at the camera',
  too_dark: 'Too dark',
  too_bright: 'Too bright',
  low_contrast: 'Improve the lighting',
  blurry: 'Hold still',
});

export interface QualityConfig {
  /** Smallest face box width, image px. */
  minFaceSize: number;
  /** Largest fraction of the face box that may lie outside the image. */
  maxOutside: number;
  maxYawDeg: number;
  maxRollDeg: number;
  /** Mean luma (0-255) of the aligned face's central region. */
  minBrightness: number;
  maxBrightness: number;
  /** Luma standard deviation of that region. */
  minContrast: number;
  /** Variance of the Laplacian of the aligned 112x112 grey crop. */
  minSharpness: number;
  /** Another face at least this fraction of the subject's width fails 'multiple_faces'; Infinity ignores others. */
  otherFaceRatio: number;
}

/**
 * Kiosk defaults (a 640x480 camera, one cooperative person at 0.5-1.5 m). Photometric limits were
 * set on 47 real photos as 640x480 frames and darkened / brightened / flattened / blurred copies:
 * originals measure brightness >= 80 (p5), contrast >= 28, sharpness >= 208; 0.3x-darkened
 * copies brightness <= 54 (p95); a Gaussian blur of sigma 4 px halves sharpness to a median 94.
 */
export const DEFAULT_QUALITY_CONFIG: Readonly<QualityConfig> = Object.freeze({
  minFaceSize: 80,
  maxOutside: 0.05,
  maxYawDeg: 25,
  maxRollDeg: 20,
  minBrightness: 60,
  maxBrightness: 215,
  minContrast: 18,
  minSharpness: 80,
  otherFaceRatio: 0.5,
});

/** Lenient defaults for preparing in-the-wild training photos: keep pose and light variety. */
export const DATASET_QUALITY_CONFIG: Readonly<QualityConfig> = Object.freeze({
  // ~15 px between the eyes: still an identity, and low resolution is something to train for.
  minFaceSize: 32,
  maxOutside: 0.15,
  maxYawDeg: 55,
  // Alignment removes roll, so any is fine for training crops.
  maxRollDeg: 180,
  minBrightness: 25,
  maxBrightness: 235,
  minContrast: 8,
  minSharpness: 15,
  otherFaceRatio: Infinity,
});

export interface QualityMetrics {
  /** Face box width, image px. */
  faceSize: number;
  /** Distance between the eye centres, image px. */
  eyeDistance: number;
  /** Fraction of the face box area outside the image. */
  outside: number;
  /** Signed, degrees; positive when the nose points to image-right. */
  yawDeg: number;
  /** Signed, degrees; positive when the image-right eye is lower. */
  rollDeg: number;
  brightness: number;
  contrast: number;
  sharpness: number;
  /** Faces besides this one at least otherFaceRatio of its width. */
  otherFaces: number;
}

export interface QualityReport {
  ok: boolean;
  reasons: { code: QualityCode; message: string }[];
  metrics: QualityMetrics;
}

/**
 * Nose-tip depth in front of the eye-mouth axis, in eye distances (anthropometric ~0.45):
 * the nose's sideways offset from that axis is depth * sin(yaw), the eye distance shrinks by cos(yaw).
 */
const NOSE_DEPTH = 0.45;

/** Yaw and roll (degrees) from the five ArcFace-order landmarks. */
export function poseFromLandmarks(lm: readonly Point[]): { yawDeg: number; rollDeg: number; eyeDistance: number } {
  const [le, re, nose, lm0, rm0] = lm as [Point, Point, Point, Point, Point];
  const eyeDistance = Math.hypot(re[0] - le[0], re[1] - le[1]);
  const rollDeg = (Math.atan2(re[1] - le[1], re[0] - le[0]) * 180) / Math.PI;
  const e: Point = [(le[0] + re[0]) / 2, (le[1] + re[1]) / 2];
  const m: Point = [(lm0[0] + rm0[0]) / 2, (lm0[1] + rm0[1]) / 2];
  const ax = m[0] - e[0], ay = m[1] - e[1];
  const axisLen = Math.hypot(ax, ay) || 1;
  // Signed perpendicular offset of the nose from the eye-mouth midline; positive = image-right.
  const offset = -(ax * (nose[1] - e[1]) - ay * (nose[0] - e[0])) / axisLen;
  const yawDeg = (Math.atan2(offset, NOSE_DEPTH * (eyeDistance || 1)) * 180) / Math.PI;
  return { yawDeg, rollDeg, eyeDistance };
}

function outsideFraction(b: Box, w: number, h: number): number {
  const ix = Math.max(0, Math.min(b.x + b.width, w - 1) - Math.max(b.x, 0));
  const iy = Math.max(0, Math.min(b.y + b.height, h - 1) - Math.max(b.y, 0));
  const area = b.width * b.height;
  return area > 0 ? 1 - (ix * iy) / area : 1;
}

/** Brightness, contrast and sharpness of an aligned crop (any size; measured on its central face region). */
export function photometrics(crop: RgbImage): { brightness: number; contrast: number; sharpness: number } {
  const { width: W, height: H, data } = crop;
  const luma = new Float32Array(W * H);
  for (let i = 0, p = 0; i < W * H; i++, p += 3) luma[i] = 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
  // Central region: eyes to chin, inside the cheeks (template x 24-88, y 32-104 at 112).
  const x0 = Math.round(W * 0.21), x1 = Math.round(W * 0.79), y0 = Math.round(H * 0.29), y1 = Math.round(H * 0.93);
  let sum = 0, sum2 = 0, n = 0, lsum = 0, lsum2 = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const v = luma[y * W + x]!;
      sum += v;
      sum2 += v * v;
      n++;
      const lap = luma[(y - 1) * W + x]! + luma[(y + 1) * W + x]! + luma[y * W + x - 1]! + luma[y * W + x + 1]! - 4 * v;
      lsum += lap;
      lsum2 += lap * lap;
    }
  }
  const brightness = sum / n;
  const contrast = Math.sqrt(Math.max(0, sum2 / n - brightness * brightness));
  const lm = lsum / n;
  const sharpness = Math.max(0, lsum2 / n - lm * lm);
  return { brightness, contrast, sharpness };
}

/**
 * Quality of `face` in `img`. `crop` (the aligned face) is computed when not given; pass it
 * when you already have it. Sharpness is measured at 112 px so thresholds hold for any crop size.
 */
export function assessQuality(
  img: RgbImage,
  face: DetectedFace,
  allFaces: readonly DetectedFace[] = [face],
  cfg: Partial<QualityConfig> = {},
  crop?: RgbImage,
): QualityReport {
  const c: QualityConfig = { ...DEFAULT_QUALITY_CONFIG, ...cfg };
  const aligned = crop && crop.width === 112 ? crop : alignFace(img, face.landmarks, 112);
  const pose = poseFromLandmarks(face.landmarks);
  const photo = photometrics(aligned);
  const otherFaces = allFaces.filter((f) => f !== face && f.box.width >= c.otherFaceRatio * face.box.width).length;
  const metrics: QualityMetrics = {
    faceSize: face.box.width,
    eyeDistance: pose.eyeDistance,
    outside: outsideFraction(face.box, img.width, img.height),
    yawDeg: pose.yawDeg,
    rollDeg: pose.rollDeg,
    ...photo,
    otherFaces,
  };
  const failed: QualityCode[] = [];
  if (otherFaces > 0) failed.push('multiple_faces');
  if (metrics.faceSize < c.minFaceSize) failed.push('too_small');
  if (metrics.outside > c.maxOutside) failed.push('off_frame');
  if (Math.abs(metrics.yawDeg) > c.maxYawDeg || Math.abs(metrics.rollDeg) > c.maxRollDeg) failed.push('pose');
  if (metrics.brightness < c.minBrightness) failed.push('too_dark');
  else if (metrics.brightness > c.maxBrightness) failed.push('too_bright');
  else if (metrics.contrast < c.minContrast) failed.push('low_contrast');
  // A small, dark or flat face also measures as blurry; name the cause, not the symptom.
  const explained = failed.some((f) => f === 'too_small' || f === 'too_dark' || f === 'low_contrast');
  if (metrics.sharpness < c.minSharpness && !explained) failed.push('blurry');
  return { ok: failed.length === 0, reasons: failed.map((code) => ({ code, message: QUALITY_MESSAGES[code] })), metrics };
}
