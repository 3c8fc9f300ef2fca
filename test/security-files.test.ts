// The enrolled folder holds faces, templates and the decision log: biometric data. It is the
// owner's alone (0700) whatever the process umask, so no other user on the box can read a crop,
// a template or a snapshot; a folder an older version left open is closed up when opened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Enrolled } from '../src/enrolled/index.js';

const othersMay = async (p: string) => ((await stat(p)).mode & 0o077) !== 0;

test('the enrolled folder is private to its owner, new or left open by an older version', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-files-'));
  const old = process.umask(0o022);
  try {
    const fresh = path.join(tmp, 'fresh');
    await (await Enrolled.open(fresh)).close();
    assert.equal(await othersMay(fresh), false, 'a new folder: 0700');

    const open = path.join(tmp, 'open');
    await mkdir(open, { mode: 0o755 });
    await chmod(open, 0o755);
    assert.equal(await othersMay(open), true);
    await (await Enrolled.open(open)).close();
    assert.equal(await othersMay(open), false, 'an old 0755 folder is closed up');
  } finally {
    process.umask(old);
    await rm(tmp, { recursive: true, force: true });
  }
});
