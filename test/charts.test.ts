import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { rocChart, trainingCurves, writeChart, type EpochRecord } from '../src/report/charts.js';
import { rocCurve } from '../src/eval/metrics.js';

/** Minimal XML well-formedness: one root, every open tag closed in order. */
function assertWellFormed(xml: string): void {
  const body = xml.replace(/<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '').trim();
  assert.ok(body.startsWith('<svg'), 'root element is <svg>');
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) {
      assert.equal(stack.pop(), name, `</${name}> closes the innermost open tag`);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    }
  }
  assert.deepEqual(stack, [], 'all tags closed');
  assert.equal(roots, 1, 'single root');
}

// Twelve epochs of a plausible run: loss falls, accuracies rise, warm-up then cosine lr,
// verification accuracy only every other epoch.
const history: EpochRecord[] = Array.from({ length: 12 }, (_, i) => ({
  epoch: i + 1,
  trainLoss: 8 * Math.exp(-i / 4) + 1,
  valLoss: 8.5 * Math.exp(-i / 4) + 1.3,
  trainAcc: 1 - 0.9 * Math.exp(-i / 3),
  valAcc: 1 - 0.95 * Math.exp(-i / 3),
  verifAcc: i % 2 ? 0.6 + 0.03 * i : undefined,
  lr: i < 2 ? (0.01 * (i + 1)) / 2 : 0.01 * 0.5 * (1 + Math.cos((Math.PI * (i - 2)) / 10)),
}));

test('trainingCurves renders loss, accuracy and log-lr panels', async () => {
  const { svg } = await trainingCurves(history, { title: 'EfficientFR run' });
  assertWellFormed(svg);
  for (const text of ['EfficientFR run', 'Loss', 'Accuracy', 'Learning rate', 'train loss', 'val loss', 'train acc', 'val acc', 'verification acc', 'epoch', 'learning rate (log)']) {
    assert.ok(svg.includes(`>${text}<`), `SVG has text "${text}"`);
  }
  // Log axis labels span the lr range (1e-2 peak, ~2.4e-4 at the end).
  assert.ok(svg.includes('>1e-2<') && svg.includes('>1e-3<'), 'lr axis is logarithmic');
});

test('trainingCurves without optional metrics drops the accuracy panel', async () => {
  const { svg } = await trainingCurves(history.map(({ epoch, trainLoss, lr }) => ({ epoch, trainLoss, lr })));
  assertWellFormed(svg);
  assert.ok(svg.includes('>train loss<'));
  assert.ok(!svg.includes('>Accuracy<'));
  assert.ok(!svg.includes('>val loss<'));
  await assert.rejects(trainingCurves([]), /empty history/);
});

test('rocChart uses a log FAR axis and labels each curve', async () => {
  const labels = [true, false, true, false, true, false, true, false];
  const scores = [0.9, 0.85, 0.7, 0.3, 0.6, 0.2, 0.4, 0.1];
  const roc = rocCurve(scores, labels);
  const { svg } = await rocChart([
    { label: 'EfficientFR', ...roc },
    { label: 'baseline', fpr: [0, 0.01, 0.5, 1], tpr: [0, 0.2, 0.7, 1] },
  ]);
  assertWellFormed(svg);
  for (const text of ['ROC', 'EfficientFR', 'baseline', 'false accept rate (FAR, log)', 'true accept rate (TAR)', '1e-2', '1e-1']) {
    assert.ok(svg.includes(`>${text}<`), `SVG has text "${text}"`);
  }
  await assert.rejects(rocChart([{ label: 'x', fpr: [0, 1], tpr: [0] }]), /2 FAR but 1 TAR/);
});

test('writeChart writes an SVG and a PNG that decodes to a non-trivial image', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'facegate-charts-'));
  try {
    const { svg } = await trainingCurves(history);
    const out = await writeChart(svg, path.join(dir, 'nested', 'training'));
    assert.equal(out.svgPath, path.join(dir, 'nested', 'training.svg'));
    assert.equal(await readFile(out.svgPath, 'utf8'), svg);
    const png = await readFile(out.pngPath);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(meta.width! > 1000 && meta.height! > 300, `${meta.width}x${meta.height}`);
    // Lines and text on a white background: the image is far from uniform.
    const stats = await sharp(png).stats();
    assert.ok(stats.channels[0].stdev > 10, `stdev ${stats.channels[0].stdev}`);
    assert.ok(stats.channels[0].min < 100 && stats.channels[0].max > 240);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
