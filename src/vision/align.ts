// Five-point similarity alignment onto the ArcFace template (insightface's norm_crop).
import type { Point, RgbImage } from './types.js';
import { type Affine, invertAffine, warpAffineAA } from './warp.js';

/** insightface arcface_dst for 112x112: eye centres, nose tip, mouth corners (image-left first). */
export const ARCFACE_TEMPLATE_112: readonly Point[] = Object.freeze([
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
] as Point[]);

/** The template scaled to a size x size crop. */
export function arcfaceTemplate(size = 112): Point[] {
  const s = size / 112;
  return ARCFACE_TEMPLATE_112.map(([x, y]) => [x * s, y * s] as Point);
}

/**
 * Least-squares similarity (rotation, uniform scale, translation; no reflection) taking `src`
 * onto `dst`: Umeyama's (1991) estimate, which in 2-D has this closed form.
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new Error(`need matching point lists of 2 or more, got ${n} and ${dst.length}`);
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i]![0]; msy += src[i]![1]; mdx += dst[i]![0]; mdy += dst[i]![1];
  }
  msx /= n; msy /= n; mdx /= n; mdy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const x = src[i]![0] - msx, y = src[i]![1] - msy;
    const u = dst[i]![0] - mdx, v = dst[i]![1] - mdy;
    num1 += x * u + y * v;
    num2 += x * v - y * u;
    den += x * x + y * y;
  }
  if (den < 1e-9) throw new Error('source points coincide');
  const a = num1 / den;
  const b = num2 / den;
  return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)];
}

/** Image -> crop transform for these landmarks. */
export function alignmentTransform(landmarks: readonly Point[], size = 112): Affine {
  if (landmarks.length !== 5) throw new Error(`alignFace needs 5 landmarks, got ${landmarks.length}`);
  return estimateSimilarity(landmarks, arcfaceTemplate(size));
}

/** Aligned size x size RGB crop (black outside the source image, as insightface's crops are). */
export function alignFace(img: RgbImage, landmarks: readonly Point[], size = 112): RgbImage {
  return warpAffineAA(img, invertAffine(alignmentTransform(landmarks, size)), size, size, 0);
}
