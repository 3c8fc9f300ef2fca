// One error type with a machine-readable code, so the HTTP layer can map codes to statuses.
export type GalleryErrorCode =
  | 'INVALID_ID' // malformed id: rejected before it can reach a path
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT' // e.g. badge already used
  | 'WRITE_FAILED' // disk full, permissions...: the previous file is intact
  | 'CORRUPT'; // a gallery file that does not parse or validate

export class GalleryError extends Error {
  readonly code: GalleryErrorCode;
  constructor(code: GalleryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GalleryError';
    this.code = code;
  }
}
