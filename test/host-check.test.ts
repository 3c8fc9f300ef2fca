// DNS rebinding: a page of http://attacker.example:PORT whose name the attacker re-points to
// 127.0.0.1, opened in the kiosk's own browser, sends Host and Origin of its own name over a
// loopback connection. Such requests must be refused at the edge (src/http/host-check.ts) before
// they reach a session, a login attempt or a route; the names this server answers to keep
// working. A real server on 127.0.0.1, raw HTTP (fetch would not let us choose the Host header).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/engine/backend.js';
import { AdminStore, adminFilePath, loadConfig } from '../src/config/index.js';
import { startServer, type RunningServer } from '../src/http/index.js';

const PASSWORD = 'host check password';
/** A name listed in allowedHosts: the kiosk reached under a LAN name. */
const LISTED = 'kiosk.example.lan';

let tmp: string;
let running: RunningServer;
let port: number;

before(async () => {
  await initBackend({ quiet: true });
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-host-'));
  // No model: recognition answers 503 past the guards, which is all these requests need.
  const config = loadConfig({
    env: {},
    overrides: { port: 0, host: '127.0.0.1', allowedHosts: [LISTED], modelDir: path.join(tmp, 'no-model'), galleryDir: path.join(tmp, 'gallery') },
  });
  await (await AdminStore.open(adminFilePath(config))).setPassword(PASSWORD);
  running = await startServer(config, { quiet: true });
  port = running.port;
});

after(async () => {
  await running?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/** One request over a loopback socket, with the Host (and any other header) as given. */
function send(method: string, target: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Host and Origin of a page served under `name` (what a browser sends from it). */
const from = (name: string) => ({ host: `${name}:${port}`, origin: `http://${name}:${port}` });
const EVIL = 'attacker.example';

function assertRefusedHost(a: Answer, what: string): void {
  assert.equal(a.status, 403, `${what}: ${a.status} ${a.text}`);
  const { error } = JSON.parse(a.text) as { error: { code: string; message: string } };
  assert.equal(error.code, 'host_not_allowed', what);
  assert.match(error.message, /allowedHosts/, `${what}: the refusal names the setting`);
}

const apiLogin = (headers: Record<string, string>, password: string) =>
  send('POST', '/api/login', { ...headers, 'content-type': 'application/json' }, JSON.stringify({ password }));

/** The login page's CSRF cookie and token, fetched under `name`. */
async function loginForm(name: string): Promise<{ cookie: string; token: string }> {
  const page = await send('GET', '/login', { host: `${name}:${port}` });
  assert.equal(page.status, 200, page.text);
  const cookie = (page.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!).find((c) => c.startsWith('facegate_csrf='));
  const token = page.text.match(/<meta name="csrf-token" content="([^"]+)">/)?.[1];
  assert.ok(cookie && token, 'the login page sets a CSRF cookie and token');
  return { cookie, token };
}

const pageLogin = (headers: Record<string, string>, form: { cookie: string; token: string }, password: string) =>
  send('POST', '/login', { ...headers, cookie: form.cookie, 'content-type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ _csrf: form.token, password, next: '/admin' }).toString());

test('a rebinding page cannot spend the login attempts: refused before the password is looked at', async () => {
  // Without the guard, 3 wrong passwords are free and the 4th makes this address wait (429).
  for (let i = 0; i < 4; i++) assertRefusedHost(await apiLogin(from(EVIL), 'a guess'), `POST /api/login #${i + 1}`);
  assertRefusedHost(await send('GET', '/login', { host: `${EVIL}:${port}` }), 'GET /login');
  // A token the page could have had (the CSRF cookie is not per host name): still refused.
  const form = await loginForm('127.0.0.1');
  for (let i = 0; i < 2; i++) assertRefusedHost(await pageLogin(from(EVIL), form, 'a guess'), `POST /login #${i + 1}`);
  // The operator, at the kiosk, logs in at once: none of those counted.
  const ok = await apiLogin(from('127.0.0.1'), PASSWORD);
  assert.equal(ok.status, 200, ok.text);
  const page = await pageLogin(from('127.0.0.1'), form, PASSWORD);
  assert.equal(page.status, 303, page.text);
  assert.equal(page.headers.location, '/admin');
});

test('a rebinding page cannot read health, identify as the appliance, or reach any other route', async () => {
  assertRefusedHost(await send('GET', '/api/health', from(EVIL)), 'GET /api/health');
  assertRefusedHost(await send('POST', '/api/identify?k=5', { ...from(EVIL), 'content-type': 'image/jpeg' }, 'x'), 'POST /api/identify');
  assertRefusedHost(await send('POST', '/api/verify', { ...from(EVIL), 'content-type': 'image/jpeg' }, 'x'), 'POST /api/verify');
  for (const p of ['/', '/kiosk/events', '/metrics', '/static/htmx.min.js', '/admin']) assertRefusedHost(await send('GET', p, from(EVIL)), `GET ${p}`);
  // Sec-Fetch-Site says same-origin from the rebound page too: it proves nothing about the name.
  assertRefusedHost(await send('GET', '/api/health', { ...from(EVIL), 'sec-fetch-site': 'same-origin' }), 'GET /api/health, Sec-Fetch-Site same-origin');
  // A name that begins with an allowed one is another name.
  assertRefusedHost(await send('GET', '/api/health', { host: `localhost.${EVIL}:${port}` }), 'a subdomain-looking name');
  // An absolute request target names the host too, whatever the Host header says.
  assertRefusedHost(await send('GET', `http://${EVIL}:${port}/api/health`, { host: `127.0.0.1:${port}` }), 'absolute-form target');
});

test('a request without a Host header is refused', async () => {
  // HTTP/1.0 (Node itself answers 400 to an HTTP/1.1 request without Host).
  const raw = await new Promise<string>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end('GET /api/health HTTP/1.0\r\n\r\n'));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 403 /, raw.split('\r\n')[0]);
  assert.match(raw, /"code":"host_not_allowed"/);
});

test('the kiosk under its own names works as before: loopback names, this machine, any port', async () => {
  const names = ['127.0.0.1', 'localhost', '[::1]', 'LOCALHOST', os.hostname()];
  const outside = Object.values(os.networkInterfaces()).flat().find((i) => i && !i.internal && !i.address.includes(':'))?.address;
  if (outside) names.push(outside);
  for (const name of names) {
    const health = await send('GET', '/api/health', from(name));
    assert.equal(health.status, 200, `GET /api/health as ${name}: ${health.text}`);
    // Past the host and origin guards, a loopback peer: only the missing model stops it.
    const ident = await send('POST', '/api/identify?k=5', { ...from(name.toLowerCase()), 'content-type': 'image/jpeg' }, 'x');
    assert.equal(ident.status, 503, `POST /api/identify as ${name}: ${ident.text}`);
    assert.equal((JSON.parse(ident.text) as { error: { code: string } }).error.code, 'no_model');
    const login = await apiLogin(from(name.toLowerCase()), PASSWORD);
    assert.equal(login.status, 200, `POST /api/login as ${name}: ${login.text}`);
  }
  // The port in Host is not checked: a proxy or port forward may change it.
  assert.equal((await send('GET', '/api/health', { host: `127.0.0.1:${port + 1}` })).status, 200);
  assert.equal((await send('GET', '/api/health', { host: 'localhost' })).status, 200);
  // Origin is still compared with the (now checked) Host: another allowed name is another origin.
  const cross = await send('POST', '/api/identify', { host: `127.0.0.1:${port}`, origin: `http://localhost:${port}`, 'content-type': 'image/jpeg' }, 'x');
  assert.equal(cross.status, 403, cross.text);
  assert.equal((JSON.parse(cross.text) as { error: { code: string } }).error.code, 'forbidden');
});

test('a name listed in allowedHosts (or FACEGATE_ALLOWED_HOSTS) is accepted; others stay refused', async () => {
  const health = await send('GET', '/api/health', from(LISTED));
  assert.equal(health.status, 200, health.text);
  const ident = await send('POST', '/api/identify', { ...from(LISTED), 'content-type': 'image/jpeg' }, 'x');
  assert.equal(ident.status, 503, ident.text);
  const form = await loginForm(LISTED);
  const page = await pageLogin(from(LISTED), form, PASSWORD);
  assert.equal(page.status, 303, page.text);
  assertRefusedHost(await send('GET', '/api/health', from(`other.${LISTED}`)), 'a name below the listed one');

  const env = loadConfig({ env: { FACEGATE_ALLOWED_HOSTS: ' Kiosk.Lan , 192.168.1.50,,[fe80::1] ' }, overrides: { modelDir: path.join(tmp, 'no-model') } });
  assert.deepEqual(env.allowedHosts, ['kiosk.lan', '192.168.1.50', '[fe80::1]']);
  assert.throws(() => loadConfig({ env: { FACEGATE_ALLOWED_HOSTS: 'http://kiosk.lan' }, overrides: { modelDir: path.join(tmp, 'no-model') } }), /allowedHosts\.0: a host name or IP address/);
  assert.throws(() => loadConfig({ env: { FACEGATE_ALLOWED_HOSTS: 'kiosk.lan:3000' }, overrides: { modelDir: path.join(tmp, 'no-model') } }), /allowedHosts/);
});
