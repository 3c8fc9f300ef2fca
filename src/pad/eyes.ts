// Eye aspect ratio (Soukupova & Cech 2016) from the 468-point MediaPipe mesh: the eyelid gap over
// the eye's width. Open eyes read about 0.25-0.35 on this mesh, closed ones about half that.

/** Mesh indices per eye: the two corners and three upper/lower eyelid pairs, corner to corner. */
export const EYE_INDEX = {
  /** The subject's right eye (image-left in an unmirrored frame). */
  imageLeft: { corners: [33, 133], lids: [[160, 144], [159, 145], [158, 153]] },
  /** The subject's left eye (image-right). */
  imageRight: { corners: [263, 362], lids: [[387, 373], [386, 374], [385, 380]] },
} as const;

type EyeSpec = (typeof EYE_INDEX)[keyof typeof EYE_INDEX];

function dist(p: Float32Array, i: number, j: number): number {
  return Math.hypot(p[i * 3]! - p[j * 3]!, p[i * 3 + 1]! - p[j * 3 + 1]!);
}

function eyeRatio(points: Float32Array, eye: EyeSpec): number {
  const width = dist(points, eye.corners[0], eye.corners[1]);
  if (!(width > 0)) return NaN;
  let gap = 0;
  for (const [a, b] of eye.lids) gap += dist(points, a, b);
  return gap / eye.lids.length / width;
}

/** Eye aspect ratio of each eye and their mean, from one face's mesh points. */
export function eyeAspectRatio(points: Float32Array): { left: number; right: number; mean: number } {
  const left = eyeRatio(points, EYE_INDEX.imageLeft);
  const right = eyeRatio(points, EYE_INDEX.imageRight);
  return { left, right, mean: (left + right) / 2 };
}
