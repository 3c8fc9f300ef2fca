// Public API of the vision pipeline: photo or frame -> aligned 112x112 face crops with quality.
export type { Box, DetectedFace, DetectorKind, FaceDetector, Point, RgbImage } from './types.js';
export {
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  ImageDecodeError,
  type ImageDecodeErrorCode,
  type ImageFormat,
  decodeImage,
  encodeJpeg,
  encodePng,
  sniffFormat,
} from './decode.js';
export { type DetectorOptions, createFaceDetector } from './detector.js';
export { ARCFACE_TEMPLATE_112, alignFace, alignmentTransform, arcfaceTemplate, estimateSimilarity } from './align.js';
export {
  DATASET_QUALITY_CONFIG,
  DEFAULT_QUALITY_CONFIG,
  QUALITY_MESSAGES,
  type QualityCode,
  type QualityConfig,
  type QualityMetrics,
  type QualityReport,
  assessQuality,
  photometrics,
  poseFromLandmarks,
} from './quality.js';
export { type ExtractOptions, type ExtractResult, type ExtractedFace, extractFaces, prominence, sharedDetector } from './extract.js';
export { type Affine, applyAffine, invertAffine, warpAffine } from './warp.js';
