// The appliance units: `systemd-analyze verify` accepts them (no warnings about them either, since
// verify only warns on unknown keys), the server's hardening rates as "OK" in `systemd-analyze
// security`, and the paths the units and install script rely on exist in the repo.
// `verify` also checks that each ExecStart= program exists on this machine: the kiosk unit's is
// Debian's /usr/bin/chromium, so without chromium that unit's check is skipped (saying so), not failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, isExecutable, missingMessage, needs, systemdAnalyze } from './fixtures/tools.js';

const SYSTEMD = fileURLToPath(new URL('../systemd/', import.meta.url));
const UNITS = ['facegate.service', 'facegate-kiosk.service', 'facegate-finetune.service', 'facegate-finetune.timer'];
const KIOSK = 'facegate-kiosk.service';
const analyze = systemdAnalyze();
const skip = analyze.skip;
/** The program the kiosk unit starts (its first ExecStart= word). */
const KIOSK_EXEC = readFileSync(`${SYSTEMD}${KIOSK}`, 'utf8').match(/^ExecStart=(\S+)/m)?.[1] ?? '';
const browser = chromium();
const kioskSkip =
  analyze.skip ||
  needs([browser], `systemd-analyze verify fails when ${KIOSK}'s ExecStart program, ${KIOSK_EXEC}, does not exist`) ||
  (isExecutable(KIOSK_EXEC) ? false : missingMessage([{ name: KIOSK_EXEC, pkg: browser.pkg }], `${KIOSK} starts it (chromium was found at ${browser.path}, not there)`));

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(analyze.path!, args, { cwd: SYSTEMD, timeout: 60_000 }, (error, out, err) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out, err }));
  });
}

async function verifyClean(units: string[]): Promise<void> {
  const r = await run(['verify', ...units.map((u) => `${SYSTEMD}${u}`)]);
  assert.equal(r.code, 0, r.err);
  const aboutUs = r.err.split('\n').filter((l) => UNITS.some((u) => l.includes(u)));
  assert.deepEqual(aboutUs, [], 'warnings about our units');
}

test('systemd-analyze verify accepts the server and finetune units without warnings', { skip }, async () => {
  await verifyClean(UNITS.filter((u) => u !== KIOSK));
});

test('systemd-analyze verify accepts the kiosk unit without warnings', { skip: kioskSkip }, async () => {
  assert.equal(KIOSK_EXEC, '/usr/bin/chromium', "Debian's chromium");
  await verifyClean([KIOSK]);
});

test('facegate.service hardening rates as OK (exposure below 3) offline', { skip }, async () => {
  const r = await run(['security', '--offline=true', `${SYSTEMD}facegate.service`]);
  const m = (r.out + r.err).match(/Overall exposure level for facegate\.service: ([\d.]+)/);
  assert.ok(m, r.out + r.err);
  assert.ok(Number(m[1]) < 3, `exposure ${m[1]}`);
});

test('the units say what the issue asks: user, working dir, env file, restart, limits, read-only system', async () => {
  const s = await readFile(`${SYSTEMD}facegate.service`, 'utf8');
  for (const line of [
    'User=facegate',
    'WorkingDirectory=/opt/facegate',
    'EnvironmentFile=-/etc/facegate/facegate.env',
    'Restart=on-failure',
    'ProtectSystem=strict',
    'ReadWritePaths=/opt/facegate/enrolled /opt/facegate/models',
    'PrivateTmp=yes',
    'NoNewPrivileges=yes',
    'MemoryMax=1600M',
  ]) {
    assert.ok(s.split('\n').includes(line), line);
  }
  const k = await readFile(`${SYSTEMD}facegate-kiosk.service`, 'utf8');
  assert.match(k, /^After=facegate\.service/m);
  assert.match(k, /--kiosk/);
  assert.match(k, /wait-for-server\.mjs/);
  assert.ok(existsSync(`${SYSTEMD}wait-for-server.mjs`));
  assert.ok(existsSync(`${SYSTEMD}install.sh`));
  assert.ok(existsSync(fileURLToPath(new URL('../docs/appliance.md', import.meta.url))));
});

test('the nightly finetune: a low-priority oneshot as the server\'s user and environment, on a persistent 03:00 timer', async () => {
  const s = (await readFile(`${SYSTEMD}facegate-finetune.service`, 'utf8')).split('\n');
  for (const line of [
    'Type=oneshot',
    'User=facegate',
    'WorkingDirectory=/opt/facegate',
    'EnvironmentFile=-/etc/facegate/facegate.env',
    'ExecStart=/usr/bin/env node --import tsx src/cli/main.ts finetune',
    'Nice=10',
    'IOSchedulingClass=idle',
    'ReadWritePaths=/opt/facegate/enrolled /opt/facegate/models',
  ]) {
    assert.ok(s.includes(line), line);
  }
  assert.ok(!s.includes('[Install]'), 'started by the timer only');
  const t = (await readFile(`${SYSTEMD}facegate-finetune.timer`, 'utf8')).split('\n');
  for (const line of ['OnCalendar=*-*-* 03:00', 'Persistent=true', 'WantedBy=timers.target']) assert.ok(t.includes(line), line);
  // Installed but not enabled by default.
  const install = await readFile(`${SYSTEMD}install.sh`, 'utf8');
  assert.match(install, /facegate-finetune\.timer/);
  assert.match(install, /FINETUNE:-0/);
});

test('wait-for-server exits 0 once a server answers and 1 when none does', async () => {
  const { createServer } = await import('node:http');
  const srv = createServer((_q, s) => s.end('ok')).listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as { port: number }).port;
  const node = (args: string[]) =>
    new Promise<number>((resolve) => execFile(process.execPath, [`${SYSTEMD}wait-for-server.mjs`, ...args], { timeout: 30_000 }, (e) => resolve(e ? ((e as { code?: number }).code ?? 1) : 0)));
  try {
    assert.equal(await node([`http://127.0.0.1:${port}/api/health`, '5']), 0);
  } finally {
    srv.close();
  }
  assert.equal(await node([`http://127.0.0.1:${port}/api/health`, '1']), 1);
});
