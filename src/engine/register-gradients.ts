// tfjs-core's Node entry (a CommonJS bundle) ships no gradient functions, and its ESM
// register_all_gradients.js uses extensionless imports that Node's ESM loader refuses.
// So we bundle that one module with esbuild in memory and import it from a data: URL.
// The bundle carries its own copy of the ops it needs, but they run on the one global engine
// and gradient registry (tfjs keeps both on globalThis for exactly this case), as the
// @tensorflow/tfjs union bundle does.
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
let done: Promise<void> | undefined;

export function registerAllGradients(): Promise<void> {
  done ??= (async () => {
    const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent', legalComments: 'none' });
    const code = out.outputFiles[0]!.text;
    await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  })();
  return done;
}
