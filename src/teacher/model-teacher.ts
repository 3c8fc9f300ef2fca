// A teacher that is one of our own model folders (e.g. the imported MobileFaceNet): it runs in our
// engine, on aligned crops, with the model's own input convention (FaceNet.preprocess).
import { initBackend } from '../engine/backend.js';
import { loadModel } from '../model/io.js';
import { readCrop } from '../train/validate.js';

export interface ModelTeacher {
  /** `model:<name>@<version>`: recorded in the cache, so a cache is never reused for another model. */
  name: string;
  dim: number;
  describe(files: string[]): Promise<{ file: string; descriptor?: Float32Array; reason?: string }[]>;
  close(): void;
}

export async function openModelTeacher(dir: string): Promise<ModelTeacher> {
  await initBackend({ quiet: true });
  const { net, meta } = await loadModel(dir);
  const size = net.config.inputSize;
  return {
    name: `model:${meta.name}@${meta.version}`,
    dim: net.config.embeddingSize,
    async describe(files) {
      const crops: ({ data: Uint8Array; width: number; height: number } | null)[] = [];
      const reasons: string[] = [];
      for (const f of files) {
        try {
          crops.push({ data: await readCrop(f, size), width: size, height: size });
          reasons.push('');
        } catch (err) {
          crops.push(null);
          reasons.push(`unreadable: ${(err as Error).message}`);
        }
      }
      const ok = crops.filter((c): c is NonNullable<typeof c> => c !== null);
      const embs = await net.embedCrops(ok, 32);
      let k = 0;
      return files.map((file, i) => (crops[i] ? { file, descriptor: embs[k++]! } : { file, reason: reasons[i]! }));
    },
    close: () => net.dispose(),
  };
}
