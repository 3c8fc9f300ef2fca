// The site half of a finetune's verdict (src/finetune/metrics.ts siteVerdict), on held-out margins
// and scores as runFinetune measures them: margins must rise on average; top-1 may fall by one
// held-out crop (noise on a small site) but never by a crop that the new model would let in as
// someone else. test/finetune.test.ts runs the whole finetune.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { siteVerdict } from '../src/finetune/metrics.js';

const ADMITS = 0.35;

test('margins up and every held-out crop still recognised: better', () => {
  const v = siteVerdict({ siteTop1: 1, siteMargins: [0.2, 0.3] }, { siteTop1: 1, siteMargins: [0.25, 0.32], siteOthers: [0.2, 0.1] }, ADMITS);
  assert.deepEqual([v.better, v.admitted], [true, 0]);
  assert.ok(v.gain.mean > 0);
});

test("a 2-person site whose held-out crop now scores another person above the threshold is refused, whatever the mean gain", () => {
  // Person 1's margin rose a lot; person 2's crop now comes out as person 1, at a score the door admits.
  const v = siteVerdict({ siteTop1: 1, siteMargins: [0.05, 0.02] }, { siteTop1: 0.5, siteMargins: [0.4, -0.05], siteOthers: [0.1, 0.45] }, ADMITS);
  assert.ok(v.gain.mean > 0, 'the mean margin rose');
  assert.deepEqual([v.better, v.admitted], [false, 1]);
});

test('one crop turning below the threshold (it would be refused, not admitted as another) is the noise of a single crop', () => {
  const before = { siteTop1: 0.8, siteMargins: [0.1, 0.2, 0.1, 0.05, -0.02] };
  const after = { siteTop1: 0.6, siteMargins: [0.2, 0.3, 0.2, -0.01, -0.03], siteOthers: [0.1, 0.1, 0.1, 0.3, 0.2] };
  assert.deepEqual([siteVerdict(before, after, ADMITS).better, siteVerdict(before, after, ADMITS).admitted], [true, 0]);
  // The same crop at a score the door admits: refused.
  assert.deepEqual([siteVerdict(before, { ...after, siteOthers: [0.1, 0.1, 0.1, 0.36, 0.2] }, ADMITS).better], [false]);
  // Two crops turning is more than noise, even below the threshold.
  assert.equal(siteVerdict(before, { ...after, siteTop1: 0.4, siteMargins: [0.2, -0.01, 0.2, -0.01, -0.03] }, ADMITS).better, false);
});

test('margins down on average: not better, even with top-1 unchanged', () => {
  assert.equal(siteVerdict({ siteTop1: 1, siteMargins: [0.3, 0.3] }, { siteTop1: 1, siteMargins: [0.25, 0.28], siteOthers: [0.1, 0.1] }, ADMITS).better, false);
});
