// Public surface of the matcher.
export * from './vector.js';
export { MatchIndex, MIN_SIGN_BITS, coarseFor, defaultRerank, type Coarse, type IndexSource, type BuildOptions, type TemplateHit } from './search-index.js';
export { identify, verify, type Aggregate, type MatchOptions, type Candidate, type IdentifyResult, type VerifyResult } from './identify.js';
export { GalleryMatcher } from './gallery-matcher.js';
export { dotRows, dotRowsBatch, dotSelected } from './matvec.js';
export { topKIndices } from './select.js';
