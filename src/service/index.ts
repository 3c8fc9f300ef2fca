// The verification service: frame -> decision, enrollment, re-embedding, gallery admin.
export { FaceService, type EnrollImage, type EnrollRequest, type OpenOptions } from './face-service.js';
export { ServiceError, type ServiceErrorCode } from './errors.js';
export { InferenceQueue } from './inference-queue.js';
export { loadEmbedder, modelIdOf, recommendedThresholds, type Embedder, type EmbedderSlot } from './embedder.js';
export { qualityScore, selectDiverse } from './templates.js';
export * from './types.js';
