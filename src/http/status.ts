// The one mapping from a service refusal to an HTTP status, for the API's JSON errors, the pages'
// messages and the kiosk's frames alike: the status says what the client has to change.
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ServiceError, ServiceErrorCode } from '../service/errors.js';

export const STATUS: Record<ServiceErrorCode, ContentfulStatusCode> = {
  invalid_input: 400,
  empty_image: 400,
  not_found: 404,
  duplicate: 409,
  conflict: 409,
  image_too_large: 413,
  unsupported_media: 415,
  corrupt_image: 422,
  insufficient_samples: 422,
  no_model: 503,
  busy: 503,
  storage: 500,
};

/** The status of a service refusal (a busy queue 503, a bad frame 4xx, a storage failure 500). */
export function statusOf(err: ServiceError | ServiceErrorCode): ContentfulStatusCode {
  return STATUS[typeof err === 'string' ? err : err.code];
}
