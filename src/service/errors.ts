// One error type for everything the service refuses, with a code the HTTP layer maps to a
// status and the CLI to a message. Errors of the layers below are translated here once.
import { GalleryError } from '../gallery/errors.js';
import { ImageDecodeError } from '../vision/decode.js';

export type ServiceErrorCode =
  | 'invalid_input' // 400
  | 'empty_image' // 400
  | 'not_found' // 404
  | 'duplicate' // 409: the face already matches another identity
  | 'conflict' // 409: e.g. badge in use
  | 'image_too_large' // 413: bytes or decoded pixels over the limit
  | 'unsupported_media' // 415: not an image format we decode
  | 'corrupt_image' // 422: looks like an image but does not decode
  | 'insufficient_samples' // 422: too few enrollment images passed the quality gate
  | 'no_model' // 503: no embedder loaded
  | 'busy' // 503: inference queue full
  | 'storage'; // 500: the gallery could not be written or read

export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    /** Structured context for the client (per-image reasons, the matching identity...). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** `what` names the image in the message ("frame: ..."); empty when the caller names it already. */
export function fromDecodeError(err: ImageDecodeError, what = 'image'): ServiceError {
  const msg = what ? `${what}: ${err.message}` : err.message;
  switch (err.code) {
    case 'too_large':
      return new ServiceError('image_too_large', msg);
    case 'unsupported':
      return new ServiceError('unsupported_media', msg);
    case 'empty':
      return new ServiceError('empty_image', msg);
    case 'not_found':
      return new ServiceError('not_found', msg);
    case 'corrupt':
      return new ServiceError('corrupt_image', msg);
  }
}

export function fromGalleryError(err: GalleryError): ServiceError {
  switch (err.code) {
    case 'INVALID_ID':
    case 'INVALID_INPUT':
      return new ServiceError('invalid_input', err.message);
    case 'NOT_FOUND':
      return new ServiceError('not_found', err.message);
    case 'CONFLICT':
      return new ServiceError('conflict', err.message);
    case 'WRITE_FAILED':
    case 'CORRUPT':
      return new ServiceError('storage', err.message);
  }
}

/** Translates known lower-layer errors; anything else is rethrown as is (a bug, a 500). */
export function translate(err: unknown): unknown {
  if (err instanceof ServiceError) return err;
  if (err instanceof ImageDecodeError) return fromDecodeError(err);
  if (err instanceof GalleryError) return fromGalleryError(err);
  return err;
}

/** Runs fn, translating its errors. */
export async function translated<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translate(err);
  }
}

export function isServiceError(err: unknown, code?: ServiceErrorCode): err is ServiceError {
  return err instanceof ServiceError && (code === undefined || err.code === code);
}
