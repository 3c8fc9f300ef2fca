// Public surface of the enrollment gallery: identities, templates and their crops.
export * from './gallery.js';
export { CropStore } from './crops.js';
export { GalleryError, type GalleryErrorCode } from './errors.js';
export { ID_PATTERNS, isId, assertId } from './ids.js';
export { atomicWrite, AtomicJsonFile, type FileIo } from './atomic-file.js';
export { encodeEmbedding, decodeEmbedding, type EmbeddingDtype } from './embedding-codec.js';
