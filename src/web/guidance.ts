// The enrollment page's feedback on a camera frame: distance, pose, light and sharpness, each
// with what to do, from the door's detection-and-quality check.
import type { FaceCheck } from '../door/index.js';
import type { QualityCode } from '../vision/quality.js';
import type { Box } from '../vision/types.js';

export interface Guidance {
  ok: boolean;
  checks: { name: 'distance' | 'pose' | 'light' | 'sharpness'; ok: boolean; message: string }[];
  box: Box | null;
  width: number;
  height: number;
}

/** Enrollment feedback: distance, pose, light and sharpness, each with what to do. */
export function guidance(f: FaceCheck): Guidance {
  const failed = new Map(f.reasons.map((r) => [r.code, r.message]));
  const pick = (codes: (QualityCode | 'no_face')[], good: string) => {
    for (const c of codes) if (failed.has(c)) return { ok: false, message: failed.get(c)! };
    return { ok: true, message: good };
  };
  const none = !f.box;
  const checks: Guidance['checks'] = [
    { name: 'distance', ...(none ? { ok: false, message: 'No face in view' } : pick(['multiple_faces', 'too_small', 'low_resolution', 'off_frame'], 'Good distance')) },
    { name: 'pose', ...(none ? { ok: false, message: 'Look at the camera' } : pick(['pose'], 'Facing the camera')) },
    { name: 'light', ...(none ? { ok: false, message: '-' } : pick(['too_dark', 'too_bright', 'low_contrast'], 'Good light')) },
    { name: 'sharpness', ...(none ? { ok: false, message: '-' } : pick(['blurry'], 'Sharp')) },
  ];
  return { ok: f.ok, checks, box: f.box, width: f.width, height: f.height };
}
