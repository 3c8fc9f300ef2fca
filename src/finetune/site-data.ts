// The site's own faces: every stored enrollment crop in the gallery, per identity, split into the
// crops the finetune trains on and the ones it is judged on. Deleted people are simply not in the
// gallery any more, so nothing of theirs can reach a finetune.
import { readFile } from 'node:fs/promises';
import type { Gallery } from '../gallery/gallery.js';
import { decodeImage } from '../vision/decode.js';
import type { RgbImage } from '../vision/types.js';
import { createHash } from 'node:crypto';

export interface SiteCrop {
  identityId: string;
  /** Gallery-relative key identityId/crop, for reports (never a name). */
  key: string;
  image: RgbImage;
}

export interface SiteData {
  identities: string[];
  train: SiteCrop[];
  heldOut: SiteCrop[];
  skipped: { id: string; name: string; crops: number; reason: string }[];
}

export interface SiteDataOptions {
  /** Fewer distinct crops than this and the person is left out (listed in `skipped`). */
  minCrops: number;
  /** Crops per person kept aside for the before/after comparison. */
  heldOutPerIdentity: number;
  seed: number;
}

export async function loadSiteData(gallery: Gallery, opts: SiteDataOptions): Promise<SiteData> {
  const byIdentity = new Map<string, Map<string, string>>();
  for (const t of gallery.templates()) {
    const file = gallery.cropPath(t);
    if (!file) continue;
    const crops = byIdentity.get(t.identityId) ?? new Map<string, string>();
    crops.set(`${t.identityId}/${t.crop}`, file);
    byIdentity.set(t.identityId, crops);
  }
  const out: SiteData = { identities: [], train: [], heldOut: [], skipped: [] };
  for (const person of gallery.listIdentities()) {
    const crops = [...(byIdentity.get(person.id) ?? new Map<string, string>())].sort(([a], [b]) => a.localeCompare(b));
    if (crops.length < opts.minCrops) {
      const reason = crops.length === 0 ? 'no stored face crops (enrolled with crops off, or before crops were kept)' : `${crops.length} crop(s), at least ${opts.minCrops} needed`;
      out.skipped.push({ id: person.id, name: person.name, crops: crops.length, reason });
      continue;
    }
    const loaded: (SiteCrop & { rank: string })[] = [];
    for (const [key, file] of crops) {
      try {
        const bytes = await readFile(file);
        // Ranked by a seeded hash of the crop's bytes: the same photos give the same held-out crops
        // whatever ids the gallery gave them (repeatable benchmarks), and adding someone changes
        // no one else's.
        const rank = createHash('sha256').update(String(opts.seed)).update(bytes).digest('hex');
        loaded.push({ identityId: person.id, key, image: await decodeImage(bytes), rank });
      } catch {
        /* an unreadable crop is skipped; the count check below decides */
      }
    }
    if (loaded.length < opts.minCrops) {
      out.skipped.push({ id: person.id, name: person.name, crops: loaded.length, reason: `only ${loaded.length} readable crop(s)` });
      continue;
    }
    const ranked = loaded.sort((a, b) => a.rank.localeCompare(b.rank)).map(({ rank: _, ...c }) => c);
    out.identities.push(person.id);
    out.heldOut.push(...ranked.slice(0, opts.heldOutPerIdentity));
    out.train.push(...ranked.slice(opts.heldOutPerIdentity));
  }
  return out;
}
