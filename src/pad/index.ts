// Presentation-attack detection (liveness): public API for the kiosk. See docs/pad.md.
//
// Wiring, per kiosk session (one person in front of the door):
//   const analyzer = new FrameAnalyzer(await MeshLandmarker.load(), mode !== 'active' ? await PassiveModels.load() : undefined);
//   const session = new LivenessSession(settings.liveness);          // PadSettingsSchema
//   per frame with a face:  v = session.push(analyzer.analyzeFace(img, face, Date.now(), { identity }));
//   per frame without:      v = session.push({ t: Date.now(), face: null });
//   screen: v.promptText ("blink, please" / "turn your head slightly") when set;
//   grant:  only when !settings.liveness.requireLiveness || v.live; log v.state, v.score, v.method.
// `identity` is the matcher's cosine similarity of this frame's face to the session's reference
// (the first frame's embedding, or the matched template); leave it out and the head turn is
// accepted without the identity check (its reason says so).
export { ATTACK_KINDS, type AttackKind, type AttackSet, type Presentation, type PresentationKind, buildAttackSet } from './attack-set.js';
export { type Blink, type BlinkOptions, DEFAULT_BLINK, detectBlinks } from './blink.js';
export { CALIBRATED, type PadSettings, type PadSettingsInput, PadSettingsSchema, padSettings } from './config.js';
export { type FrameCue, cueOf, cuesOf, partnerOf } from './cues.js';
export { eyeAspectRatio } from './eyes.js';
export { type FaceObservation, FrameAnalyzer, type FrameObservation } from './frame-analysis.js';
export {
  type LivenessDecision,
  type LivenessEvidence,
  type LivenessMethod,
  type LivenessVerdict,
  PROMPT_TEXT,
  type PromptKind,
  assessLiveness,
  decide,
  gatherEvidence,
} from './liveness.js';
export { type MeshFace, MeshLandmarker } from './mesh-landmarks.js';
export { type Classified, type PadErrorRates, type Rate, auc, chooseThreshold, padErrorRates } from './metrics.js';
export { PassiveModels, type PassiveScores, humanFaceCrop } from './passive.js';
export { LivenessSession, type SessionPhase } from './session.js';
