// One camera frame -> what the kiosk and the enrollment page show: the face box, whether the face
// is usable and why not, and (with a model) who it matches. Identification goes through
// FaceService.identify, which logs nothing: the kiosk logs its k-of-n decision once, not every
// frame. Without a model, detection and the quality gate still run, so the page can guide people.
import type { FaceService } from '../service/face-service.js';
import { ServiceError, fromDecodeError } from '../service/errors.js';
import { decodeImage, ImageDecodeError } from '../vision/decode.js';
import { extractFaces } from '../vision/extract.js';
import type { QualityCode, QualityMetrics } from '../vision/quality.js';
import type { Box } from '../vision/types.js';
import type { Observation } from './kiosk-judge.js';

export interface FaceCheck {
  box: Box | null;
  /** Frame size in px (the overlay scales the box to the preview). */
  width: number;
  height: number;
  faces: number;
  /** Usable for recognition / enrollment. */
  ok: boolean;
  reasons: { code: QualityCode | 'no_face'; message: string }[];
  metrics: QualityMetrics | null;
}

/** Detection and the quality gate only (no model needed), through the service's inference queue. */
export async function checkFace(service: FaceService, bytes: Uint8Array): Promise<FaceCheck> {
  let image;
  try {
    image = await decodeImage(bytes, { maxBytes: service.config.limits.maxImageBytes, maxPixels: service.config.limits.maxPixels });
  } catch (err) {
    if (err instanceof ImageDecodeError) throw fromDecodeError(err, 'frame');
    throw err;
  }
  const x = await service.queue.run(() => extractFaces(image, { detector: service.detector, quality: service.config.quality }));
  const subject = x.faces[0];
  const base = { width: image.width, height: image.height, faces: x.faces.length };
  if (!subject) return { ...base, box: null, ok: false, reasons: [{ code: 'no_face', message: 'Look at the camera' }], metrics: null };
  return { ...base, box: subject.face.box, ok: subject.quality.ok, reasons: subject.quality.reasons, metrics: subject.quality.metrics };
}

export interface KioskFrame {
  observation: Observation;
  box: Box | null;
  /** Why the face cannot be judged, as the kiosk says it. */
  advice: string | null;
  /** False when no model is loaded: faces are found but nobody can be recognised. */
  model: boolean;
  metric: 'cosine' | 'euclidean';
}

/** A kiosk frame: identify (no logging), or detection only when there is no model. */
export async function analyzeKioskFrame(service: FaceService, bytes: Uint8Array): Promise<KioskFrame> {
  const metric = service.getSettings().metric;
  if (!service.embedder) {
    const f = await checkFace(service, bytes);
    const advice = f.box ? (f.reasons[0]?.message ?? null) : 'Look at the camera';
    return { observation: f.box ? { kind: 'unusable' } : { kind: 'no_face' }, box: f.box, advice, model: false, metric };
  }
  const out = await service.identify(bytes, { k: 1 });
  const face = out.face;
  if (out.decision === 'no_face' || !face) return { observation: { kind: 'no_face' }, box: null, advice: 'Look at the camera', model: true, metric };
  const reasons = face.quality.reasons;
  if (reasons.some((r) => r.code === 'multiple_faces')) return { observation: { kind: 'unusable' }, box: face.box, advice: 'One person at a time', model: true, metric };
  if (!face.quality.ok) return { observation: { kind: 'unusable' }, box: face.box, advice: reasons[0]?.message ?? 'Look at the camera', model: true, metric };
  const observation: Observation =
    out.decision === 'match' && out.identity && out.score !== null
      ? { kind: 'match', identityId: out.identity.id, name: out.identity.name, score: out.score }
      : { kind: 'unknown', score: out.score };
  return { observation, box: face.box, advice: null, model: true, metric };
}

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

export function isServiceError(err: unknown, code?: ServiceError['code']): err is ServiceError {
  return err instanceof ServiceError && (code === undefined || err.code === code);
}
