// Issue 18, item 7: `npm test` on a machine without chromium, ffmpeg or systemd-analyze. The test
// files that need them are run here in child processes whose tool lookup points at a folder
// without them (FACEGATE_TEST_TOOL_PATH, see test/fixtures/tools.ts): nothing may fail, every test
// that needs a missing tool must be reported as skipped (not passed) with the apt-get command that
// installs it, and the tests that need none of them still run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOL_PATH_ENV, findTool, missingMessage, needs, systemdAnalyze, tool, toolDirs } from './fixtures/tools.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const analyze = systemdAnalyze();

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-skips-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface Reported {
  title: string;
  ok: boolean;
  /** The SKIP reason; undefined for a test that ran. */
  skip?: string;
}

/** Runs one test file as `npm test` would, with the given tool folders; its top-level TAP results. */
function runTestFile(file: string, toolPath: string): Promise<{ code: number; results: Reported[]; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, [TOOL_PATH_ENV]: toolPath };
  // Otherwise the child's runner reports to ours instead of printing TAP.
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file], { cwd: ROOT, env, timeout: 240_000, maxBuffer: 16 << 20 }, (err, out, errOut) => {
      const results: Reported[] = [];
      for (const line of out.split('\n')) {
        const m = line.match(/^(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)(?: (.*))?)?$/);
        if (m) results.push({ title: m[2]!.replace(/\\#/g, '#'), ok: !m[1], ...(m[3] === 'SKIP' && { skip: m[4] ?? '' }) });
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, results, out: out + errOut });
    });
  });
}

const skippedTitles = (r: Reported[]) => r.filter((x) => x.skip !== undefined).map((x) => x.title).sort();

test('the tool lookup: PATH by default, FACEGATE_TEST_TOOL_PATH when set (even empty); only executable files count', async () => {
  const bin = path.join(tmp, 'bin');
  await mkdir(path.join(bin, 'ffmpeg'), { recursive: true }); // a folder named like the tool
  await writeFile(path.join(bin, 'chromium'), '#!/bin/sh\nexit 0\n');
  await writeFile(path.join(bin, 'systemd-analyze'), '#!/bin/sh\nexit 0\n');
  await chmod(path.join(bin, 'chromium'), 0o755);
  await chmod(path.join(bin, 'systemd-analyze'), 0o644); // not executable
  assert.deepEqual(toolDirs({ PATH: `/a${path.delimiter}/b` }), ['/a', '/b']);
  assert.deepEqual(toolDirs({ PATH: '/a', [TOOL_PATH_ENV]: bin }), [bin]);
  assert.deepEqual(toolDirs({ PATH: '/a', [TOOL_PATH_ENV]: '' }), []);
  assert.equal(findTool('chromium', [path.join(tmp, 'none'), bin]), path.join(bin, 'chromium'));
  assert.equal(findTool('ffmpeg', [bin]), null);
  assert.equal(findTool('systemd-analyze', [bin]), null);
  assert.equal(findTool('chromium', []), null);
  const missing = tool('systemd-analyze', 'systemd', [bin]);
  assert.deepEqual(missing, { name: 'systemd-analyze', pkg: 'systemd', path: null, skip: 'skipped: systemd-analyze is not installed (apt-get install systemd)' });
  assert.equal(tool('chromium', 'chromium', [bin]).skip, false);
  assert.equal(needs([tool('chromium', 'chromium', [bin]), tool('ffmpeg', 'ffmpeg', [bin])]), 'skipped: ffmpeg is not installed (apt-get install ffmpeg)');
  assert.equal(
    needs([tool('chromium', 'chromium', []), tool('ffmpeg', 'ffmpeg', [])], 'why'),
    'skipped: chromium and ffmpeg are not installed (apt-get install chromium ffmpeg): why',
  );
  assert.equal(missingMessage([{ name: 'a', pkg: 'p' }, { name: 'b', pkg: 'p' }, { name: 'c', pkg: 'q' }]), 'skipped: a, b and c are not installed (apt-get install p q)');
});

test('systemd units on a machine with systemd but without chromium: the kiosk unit\'s verify is skipped naming the package, the rest runs', { skip: analyze.skip }, async () => {
  // Why it must be skipped: verify refuses a unit whose ExecStart program does not exist.
  const units = path.join(tmp, 'units');
  await mkdir(units);
  const kiosk = (await readFile(path.join(ROOT, 'systemd/facegate-kiosk.service'), 'utf8')).replace(/^ExecStart=\/usr\/bin\/chromium /m, 'ExecStart=/nonexistent/chromium ');
  assert.match(kiosk, /ExecStart=\/nonexistent\/chromium/);
  await writeFile(path.join(units, 'facegate-kiosk.service'), kiosk);
  const verify = await new Promise<{ code: number; err: string }>((resolve) =>
    execFile(analyze.path!, ['verify', path.join(units, 'facegate-kiosk.service')], (e, _o, err) => resolve({ code: e ? 1 : 0, err })),
  );
  assert.notEqual(verify.code, 0);
  assert.match(verify.err, /\/nonexistent\/chromium is not executable/);

  // Tool folder with systemd-analyze only.
  const onlySystemd = path.join(tmp, 'only-systemd');
  await mkdir(onlySystemd);
  await symlink(analyze.path!, path.join(onlySystemd, 'systemd-analyze'));
  const r = await runTestFile('test/systemd.test.ts', onlySystemd);
  assert.equal(r.code, 0, r.out);
  assert.ok(r.results.every((x) => x.ok), r.out);
  assert.deepEqual(skippedTitles(r.results), ['systemd-analyze verify accepts the kiosk unit without warnings'], r.out);
  const kioskTest = r.results.find((x) => x.skip !== undefined)!;
  assert.match(kioskTest.skip!, /^skipped: chromium is not installed \(apt-get install chromium\)/);
  // The other units are still verified, and the security rating still runs.
  assert.equal(r.results.length, 6);
  assert.ok(r.results.some((x) => x.title.startsWith('systemd-analyze verify accepts the server') && x.skip === undefined));
  assert.ok(r.results.some((x) => x.title.startsWith('facegate.service hardening') && x.skip === undefined));
});

test('a fresh machine (no chromium, ffmpeg, systemd-analyze): the tests needing them are skipped with the install command; nothing fails', async () => {
  const empty = path.join(tmp, 'no-tools');
  await mkdir(empty);
  const expect: Record<string, { skipped: string[]; because: RegExp; ran: number }> = {
    'test/systemd.test.ts': {
      skipped: [
        'facegate.service hardening rates as OK (exposure below 3) offline',
        'systemd-analyze verify accepts the kiosk unit without warnings',
        'systemd-analyze verify accepts the server and finetune units without warnings',
      ],
      because: /^skipped: systemd-analyze is not installed \(apt-get install systemd\)$/,
      ran: 3,
    },
    'test/camera.test.ts': {
      skipped: [
        'kiosk SSE: a replayed video as the server camera reaches the page as frames with face states',
        'replay camera: frames of a real video as JPEGs of the configured width, looping',
      ],
      because: /^skipped: ffmpeg is not installed \(apt-get install ffmpeg\)$/,
      // The device camera test is skipped for its own reason where /dev/video0 exists.
      ran: existsSync('/dev/video0') ? 3 : 4,
    },
    'test/browser.test.ts': { skipped: [], because: /^skipped: chromium and ffmpeg are not installed \(apt-get install chromium ffmpeg\)$/, ran: 0 },
    'test/door-actuation.test.ts': {
      skipped: ['a kiosk grant opens the door: a signed webhook and an MQTT decision on a real mosquitto; a stranger opens nothing'],
      because: /^skipped: mosquitto is not installed \(apt-get install mosquitto\)$/,
      ran: 3,
    },
    'test/kiosk-liveness.test.ts': { skipped: [], because: /^skipped: ffmpeg is not installed \(apt-get install ffmpeg\): the test extracts frames of a talking-head clip$/, ran: 0 },
  };
  for (const [file, want] of Object.entries(expect)) {
    const r = await runTestFile(file, empty);
    assert.equal(r.code, 0, `${file}:\n${r.out}`);
    assert.ok(r.results.length > 0 && r.results.every((x) => x.ok), `${file}: nothing fails\n${r.out}`);
    const toolSkips = r.results.filter((x) => x.skip !== undefined && !/\/dev\/video0/.test(x.skip));
    if (want.skipped.length) assert.deepEqual(toolSkips.map((x) => x.title).sort(), want.skipped, file);
    else assert.equal(toolSkips.length, r.results.length, `${file}: every test needs the browser`);
    for (const s of toolSkips) assert.match(s.skip!, want.because, `${file}: ${s.title}`);
    assert.equal(r.results.filter((x) => x.skip === undefined).length, want.ran, `${file}: the tests that need no tool still run`);
  }
});
