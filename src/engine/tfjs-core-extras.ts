// Parts of tfjs-core that its Node entry (a CommonJS bundle) leaves out: the gradient functions
// and the chained tensor methods (`x.add(y)`, `x.toFloat()`). Their ESM modules use extensionless
// imports that Node's ESM loader refuses, so each is bundled with esbuild in memory and imported
// from a data: URL. The bundle carries its own copy of the ops it needs, but they run on the one
// global engine, gradient registry and Tensor class (tfjs keeps all three on globalThis for
// exactly this case), as the @tensorflow/tfjs union bundle does.
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const loaded = new Map<string, Promise<void>>();

function loadCoreModule(subpath: string): Promise<void> {
  let p = loaded.get(subpath);
  if (!p) {
    p = (async () => {
      const entry = require.resolve(`@tensorflow/tfjs-core/${subpath}`);
      const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent', legalComments: 'none' });
      await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0]!.text).toString('base64')}`);
    })();
    loaded.set(subpath, p);
  }
  return p;
}

/** Every gradient of tfjs-core (training needs them; registered before our WASM overrides). */
export function registerAllGradients(): Promise<void> {
  return loadCoreModule('dist/register_all_gradients.js');
}

/** The chained tensor methods third-party models written for @tensorflow/tfjs call (face-api). */
export function registerChainedOps(): Promise<void> {
  return loadCoreModule('dist/public/chained_ops/register_all_chained_ops.js');
}
