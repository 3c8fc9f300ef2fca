// "Add samples" on the gallery page: more templates for an identity that already exists, with the
// same quality gate and diversity pick as enrollment. (FaceService.enroll always creates an
// identity; this composes the same public pieces for an existing one.)
import type { NewTemplate } from '../gallery/gallery.js';
import type { FaceService } from '../service/face-service.js';
import { ServiceError, fromDecodeError, translated } from '../service/errors.js';
import { qualityScore, selectDiverse } from '../service/templates.js';
import type { SampleReport } from '../service/types.js';
import { decodeImage, encodeJpeg, ImageDecodeError } from '../vision/decode.js';
import { extractFaces, type ExtractedFace } from '../vision/extract.js';

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
  const e = service.embedder;
  if (!e) throw new ServiceError('no_model', 'no face model loaded: samples cannot be embedded');
  const who = service.gallery.getIdentity(identityId);
  if (!who) throw new ServiceError('not_found', `no identity ${identityId}`);
  if (images.length === 0) throw new ServiceError('invalid_input', 'no images');
  const max = service.config.limits.maxEnrollImages;
  if (images.length > max) throw new ServiceError('invalid_input', `${images.length} images: at most ${max} at a time`);
  const samples: SampleReport[] = [];
  const good: { sample: SampleReport; face: ExtractedFace }[] = [];
  for (const [index, img] of images.entries()) {
    const sample: SampleReport = { index, file: img.file ?? null, accepted: false, kept: false, reasons: [], quality: null, box: null };
    samples.push(sample);
    let image;
    try {
      image = await decodeImage(img.bytes, { maxBytes: service.config.limits.maxImageBytes, maxPixels: service.config.limits.maxPixels });
    } catch (err) {
      if (!(err instanceof ImageDecodeError)) throw err;
      sample.reasons.push({ code: 'unreadable', message: fromDecodeError(err, img.file ?? `image ${index + 1}`).message });
      continue;
    }
    const x = await service.queue.run(() => extractFaces(image, { detector: service.detector, quality: service.config.quality }));
    const subject = x.faces[0];
    if (!subject) {
      sample.reasons.push({ code: 'no_face', message: 'No face found' });
      continue;
    }
    sample.box = subject.face.box;
    sample.quality = qualityScore(subject.quality);
    if (!subject.quality.ok) {
      sample.reasons.push(...subject.quality.reasons);
      continue;
    }
    sample.accepted = true;
    good.push({ sample, face: subject });
  }
  if (good.length === 0) throw new ServiceError('insufficient_samples', `none of the ${images.length} images is usable (see the reasons per image)`, { samples });
  const embeddings = await service.queue.run(() => e.net.embedCrops(good.map((g) => g.face.crop)));
  const keep = selectDiverse(embeddings, good.map((g) => g.sample.quality!), service.config.enroll.maxTemplates);
  const templates: NewTemplate[] = [];
  for (const i of keep) {
    good[i]!.sample.kept = true;
    templates.push({ embedding: embeddings[i]!, modelId: e.modelId, quality: good[i]!.sample.quality!, source, cropJpeg: await encodeJpeg(good[i]!.face.crop) });
  }
  await translated(() => service.gallery.addTemplates(identityId, templates));
  return { identityId, templates: templates.length, samples, modelId: e.modelId };
}
