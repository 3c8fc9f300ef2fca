// The rules a frame passes before anyone is compared with it: a face in view, one person, and a
// face good enough to judge. Written once; verify, identify, the kiosk and enrollment screening
// all ask it.
import type { ExtractedFace } from '../vision/extract.js';
import type { Refusal } from './types.js';

export type Gate =
  | { kind: 'no_face' }
  | { kind: Exclude<Refusal, 'no_face'>; subject: ExtractedFace; message: string }
  | { kind: 'usable'; subject: ExtractedFace };

/** `faces` most prominent first (extractFaces' order): the subject is the first. */
export function gate(faces: readonly ExtractedFace[]): Gate {
  const subject = faces[0];
  if (!subject) return { kind: 'no_face' };
  const reasons = subject.quality.reasons;
  if (reasons.some((r) => r.code === 'multiple_faces')) return { kind: 'multiple_faces', subject, message: 'One person at a time' };
  if (!subject.quality.ok) return { kind: 'poor_quality', subject, message: reasons[0]?.message ?? 'Face not usable' };
  return { kind: 'usable', subject };
}

/** What the API says for a refused frame; the kiosk says "Look at the camera" for no face. */
export function refusalMessage(g: Exclude<Gate, { kind: 'usable' }>): string {
  return g.kind === 'no_face' ? 'No face found' : g.message;
}
