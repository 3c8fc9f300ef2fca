// Public surface of the enrollment gallery.
export * from './gallery.js';
export { GalleryError, type GalleryErrorCode } from './errors.js';
export { ID_PATTERNS, isId, assertId } from './ids.js';
export { atomicWrite, AtomicJsonFile, type FileIo } from './atomic-file.js';
export { encodeEmbedding, decodeEmbedding, type EmbeddingDtype } from './embedding-codec.js';
export { SettingsSchema } from './schema.js';
