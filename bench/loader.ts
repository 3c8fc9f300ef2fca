// `npm run bench -- loader [--dir D] [--images N] [--batch B] [--size S]`: decode + augment throughput of
// BatchLoader (seed-style augmentation: 75 % duplicates, flipped and rotated) with 1 and 2 worker threads,
// and with the in-memory cache warm.
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { scanDatasets } from '../src/data/dataset.js';
import { BatchLoader, type LoaderItem } from '../src/data/loader.js';
import { augmentConfig } from '../src/data/augment.js';
import { Rng } from '../src/data/rng.js';

const defaultDir = fileURLToPath(new URL('../../shared/data/train/glint', import.meta.url));

async function epoch(loader: BatchLoader, e: number): Promise<{ images: number; ms: number; firstMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage(); // whole process, worker threads included: robust to other jobs on the machine
  const t0 = performance.now();
  let images = 0;
  let firstMs = -1;
  for await (const b of loader.batches(e)) {
    if (firstMs < 0) firstMs = performance.now() - t0;
    images += b.n;
  }
  const cpu = process.cpuUsage(cpu0);
  return { images, ms: performance.now() - t0, firstMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: defaultDir },
      images: { type: 'string', default: '4096' },
      batch: { type: 'string', default: '64' },
      size: { type: 'string', default: '112' },
    },
  });
  const ds = await scanDatasets([values.dir]);
  const n = Math.min(Number(values.images), ds.items.length);
  // a seeded random subset, so one epoch with 75 % duplicates stays at a few hundred batches at most
  const items: LoaderItem[] = new Rng(7).shuffle([...ds.items]).slice(0, n);
  const batchSize = Number(values.batch);
  const inputSize = Number(values.size);
  const augment = augmentConfig();
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores (other jobs skew images/s, not CPU-ms/image much)`);
  console.log(`loader bench: ${n} of ${ds.items.length} images from ${values.dir}, ${inputSize}px, batch ${batchSize}, augment ${JSON.stringify(augment)}`);

  const line = (name: string, r: Awaited<ReturnType<typeof epoch>>): void => {
    const ips = r.images / (r.ms / 1000);
    console.log(
      `${name.padEnd(28)} ${String(r.images).padStart(6)} images  ${(r.ms / 1000).toFixed(2).padStart(6)} s  ${ips.toFixed(0).padStart(6)} images/s` +
        `  first batch ${r.firstMs.toFixed(0).padStart(5)} ms  ${((r.ms / r.images) * batchSize).toFixed(1).padStart(6)} ms/batch` +
        `  ${(r.cpuMs / r.images).toFixed(2)} CPU-ms/image`,
    );
  };

  for (const workers of [1, 2]) {
    const loader = new BatchLoader(items, { batchSize, inputSize, augment, shuffle: true, seed: 1, workers });
    line(`workers=${workers}`, await epoch(loader, 0));
    await loader.close();
  }
  {
    const loader = new BatchLoader(items, { batchSize, inputSize, augment: null, shuffle: true, seed: 1, workers: 1 });
    line('workers=1, no augmentation', await epoch(loader, 0));
    await loader.close();
  }
  {
    const loader = new BatchLoader(items, { batchSize, inputSize, augment, shuffle: true, seed: 1, workers: 2, cache: true });
    line('workers=2, cache cold', await epoch(loader, 0));
    line('workers=2, cache warm', await epoch(loader, 1));
    console.log(`cache: ${loader.cachedCount} crops, ${((loader.cachedCount * inputSize * inputSize * 3) / 2 ** 20).toFixed(0)} MiB`);
    await loader.close();
  }
}
