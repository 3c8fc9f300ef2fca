// "Add samples" on the gallery page: more templates for an identity that already exists, with the
// same quality gate (FaceService.screenSamples) and diversity pick as enrollment.
import type { NewTemplate } from '../gallery/gallery.js';
import type { FaceService } from '../service/face-service.js';
import { ServiceError, translated } from '../service/errors.js';
import { selectDiverse } from '../service/templates.js';
import type { SampleReport } from '../door/index.js';
import { encodeJpeg } from '../vision/decode.js';

export interface AddSamplesOutcome {
  identityId: string;
  templates: number;
  samples: SampleReport[];
  modelId: string;
}

export async function addSamples(
  service: FaceService,
  identityId: string,
  images: { bytes: Uint8Array; file?: string }[],
  source: 'upload' | 'camera',
): Promise<AddSamplesOutcome> {
  if (!service.embedder) throw new ServiceError('no_model', 'no face model loaded: samples cannot be embedded');
  const who = service.gallery.getIdentity(identityId);
  if (!who) throw new ServiceError('not_found', `no identity ${identityId}`);
  if (images.length === 0) throw new ServiceError('invalid_input', 'no images');
  const max = service.config.limits.maxEnrollImages;
  if (images.length > max) throw new ServiceError('invalid_input', `${images.length} images: at most ${max} at a time`);
  const { samples, good } = await service.screenSamples(images, { source });
  if (good.length === 0) throw new ServiceError('insufficient_samples', `none of the ${images.length} images is usable (see the reasons per image)`, { samples });
  // Embedded by whichever model is current when the job runs (it may be switched meanwhile): stored under that model's id.
  const { embeddings, modelId } = await service.embedCrops(good.map((g) => g.face.crop));
  const keep = selectDiverse(embeddings, good.map((g) => g.sample.quality!), service.config.enroll.maxTemplates);
  const templates: NewTemplate[] = [];
  for (const i of keep) {
    good[i]!.sample.kept = true;
    templates.push({ embedding: embeddings[i]!, modelId, quality: good[i]!.sample.quality!, source, cropJpeg: await encodeJpeg(good[i]!.face.crop) });
  }
  await translated(() => service.gallery.addTemplates(identityId, templates));
  return { identityId, templates: templates.length, samples, modelId };
}
