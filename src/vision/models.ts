// Where the pretrained detector weights live: the MediaPipe BlazeFace and FaceMesh graphs that
// ship inside the @vladmandic/human npm package (offline, MIT / Apache-2.0).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

export function humanModelsDir(): string {
  // The package's exports map hides package.json, but resolving its main file is allowed.
  return path.resolve(path.dirname(require.resolve('@vladmandic/human')), '..', 'models');
}

export const modelPath = (name: 'blazeface' | 'facemesh'): string => path.join(humanModelsDir(), `${name}.json`);
