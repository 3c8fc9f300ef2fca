// URLs of face crops for thumbnails: an identity's best crop (the active model's template first).
import type { FaceService } from '../service/face-service.js';

export function cropUrl(identityId: string, crop: string): string {
  return `/admin/faces/${identityId}/${crop}`;
}

/** identityId -> thumbnail URL of its highest-quality stored crop. */
export function thumbnails(service: FaceService): Map<string, string> {
  const active = service.modelId;
  const best = new Map<string, { url: string; rank: number }>();
  for (const t of service.templates()) {
    if (t.crop === null) continue;
    const rank = t.quality + (t.modelId === active ? 1 : 0);
    const cur = best.get(t.identityId);
    if (!cur || rank > cur.rank) best.set(t.identityId, { url: cropUrl(t.identityId, t.crop), rank });
  }
  return new Map([...best].map(([k, v]) => [k, v.url]));
}
