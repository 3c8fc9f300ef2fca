// Motion cue. A photo or a screen is a plane: between two frames every landmark of the face on it
// moves by one homography, whatever the hand does, so the best-fitting homography leaves only
// the landmark model's own jitter. A live face is not a plane (a turning head shows parallax
// between nose and cheeks) and not rigid (lips, lids, brows, jaw move), so the fit leaves more.
//
// Per pair of frames (cues.ts pairs each frame with the one about lagMs earlier): the homography
// fitted to all 468 mesh points, its RMS residual, and the RMS displacement itself, both over the
// face's size (the mesh bounds' mean side). liveness.ts compares the residual with what a moved
// plane leaves for that much motion (the calibrated planar model).
import { MESH_POINTS, meshBounds } from '../vision/facemesh.js';
import { fitPlaneMap, rmsResidual } from './homography.js';

function faceSize(p: Float32Array): number {
  const b = meshBounds(p);
  return ((b.x2 - b.x1) + (b.y2 - b.y1)) / 2;
}

function coords(p: Float32Array): { x: Float64Array; y: Float64Array } {
  const x = new Float64Array(MESH_POINTS), y = new Float64Array(MESH_POINTS);
  for (let k = 0; k < MESH_POINTS; k++) {
    x[k] = p[k * 3]!;
    y[k] = p[k * 3 + 1]!;
  }
  return { x, y };
}

/** Motion and planar-fit residual between two meshes of the same face. */
export function pairMotion(a: Float32Array, b: Float32Array): { motion: number; residual: number } {
  const s = (faceSize(a) + faceSize(b)) / 2;
  const pa = coords(a), pb = coords(b);
  let d = 0;
  for (let k = 0; k < MESH_POINTS; k++) d += (pa.x[k]! - pb.x[k]!) ** 2 + (pa.y[k]! - pb.y[k]!) ** 2;
  const motion = Math.sqrt(d / MESH_POINTS) / s;
  const h = fitPlaneMap(pa.x, pa.y, pb.x, pb.y, 'homography');
  const residual = h ? rmsResidual(h, pa.x, pa.y, pb.x, pb.y) / s : Infinity;
  return { motion, residual };
}
