// Door actuation (issue 20, part 1), end to end on real transports: a signed webhook to an HTTP
// receiver on 127.0.0.1 that checks signatures and refuses replays, retries and the queue bound
// against a receiver that fails or stalls, the relay hook running a real program, MQTT on a real
// mosquitto (Debian's; skipped with the install command when missing), and fail-secure: with the
// camera or the model in error, nothing opens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectAsync, type IPublishPacket } from 'mqtt';
import {
  ActuationConfigSchema,
  DoorActuator,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  decisionOpensDoor,
  healthAllowsOpening,
  parseDoorState,
  signWebhook,
  verifyWebhookSignature,
  type ActuationConfigInput,
  type ActuationOutcome,
  type DoorDecision,
  type DoorEvent,
  type DoorState,
  type SystemHealth,
} from '../src/actuation/index.js';
import { broker, freePort, startBroker } from './fixtures/mosquitto.js';

const SECRET = 'door-secret-0123456789abcdef';
const HEALTHY: SystemHealth = { model: { ok: true }, gallery: { ok: true }, camera: { ok: true } };
const CAMERA_DOWN: SystemHealth = { ...HEALTHY, camera: { ok: false, error: 'device disconnected' } };

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'facegate-actuation-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const grant = (over: Partial<DoorDecision> = {}): DoorDecision => ({
  time: new Date().toISOString(),
  door: 'front',
  decision: 'granted',
  identity: { id: 'p-ada', name: 'Ada' },
  score: 0.71,
  threshold: 0.5,
  modelId: 'facegate-default-v3',
  liveness: { passed: true, method: 'blink' },
  ...over,
});

/** Polls until fn() is true; fails after a generous ms. */
async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

/** An HTTP receiver on 127.0.0.1; respond picks each request's status (it may wait first). */
async function receiver(respond: (r: Omit<Received, 'status'>, n: number) => number | Promise<number>) {
  const got: Received[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const r = { headers: req.headers, body, status: 0 };
    got.push(r);
    r.status = await respond(r, got.length);
    res.writeHead(r.status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/door`;
  return {
    url,
    got,
    events: () => got.map((r) => JSON.parse(r.body) as DoorEvent),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The receiver a door controller would run (the docs show the same): refuses what is not signed
 * with the secret within 30 s (401) and an event id it has already seen (409), opens on the rest.
 */
function doorController() {
  const seen = new Set<string>();
  const opened: DoorEvent[] = [];
  const respond = (r: { headers: http.IncomingHttpHeaders; body: string }): number => {
    if (!verifyWebhookSignature(SECRET, r.headers, r.body, { toleranceSec: 30 }).ok) return 401;
    const event = JSON.parse(r.body) as DoorEvent;
    if (seen.has(event.id)) return 409;
    seen.add(event.id);
    if (event.open) opened.push(event);
    return 200;
  };
  return { opened, respond };
}

/** An actuator whose outcomes are collected; healthy unless told otherwise. */
function actuator(config: ActuationConfigInput, health: SystemHealth | null = HEALTHY) {
  const outcomes: ActuationOutcome[] = [];
  const door = new DoorActuator(ActuationConfigSchema.parse(config), { onOutcome: (o) => outcomes.push(o) });
  if (health) door.health(health);
  const of = (eventId: string) => outcomes.filter((o) => o.eventId === eventId).map((o) => `${o.channel}:${o.status}`);
  return { door, outcomes, of };
}

const webhook = (url: string, over: Record<string, unknown> = {}) => ({ url, secret: SECRET, ...over });

/** A relay command: node writing its environment and arguments to `file`, as a GPIO script would act. */
const relayScript = (file: string, extra: string[] = []) => [
  process.execPath,
  '-e',
  "require('fs').writeFileSync(process.argv[1], JSON.stringify({ pulseMs: process.env.FACEGATE_PULSE_MS, door: process.env.FACEGATE_DOOR, args: process.argv.slice(2) }))",
  file,
  ...extra,
];

test('config: every channel off by default; strict; a relay command is an argv array, never a shell string', () => {
  const none = ActuationConfigSchema.parse(undefined);
  assert.deepEqual(none, {});
  const cfg = ActuationConfigSchema.parse({ webhook: { url: 'https://door.local/open', secret: SECRET }, mqtt: { url: 'mqtt://broker.local' }, relay: { command: ['/usr/local/bin/relay'] } });
  assert.equal(cfg.webhook!.enabled, true);
  assert.equal(cfg.webhook!.retries, 3);
  assert.equal(cfg.webhook!.maxAgeMs, 5000);
  assert.deepEqual(cfg.mqtt!.topics, { decisions: 'facegate/door/decisions', health: 'facegate/door/health', doorState: 'facegate/door/state' });
  assert.equal(cfg.relay!.pulseMs, 1000);
  assert.ok(!ActuationConfigSchema.safeParse({ relay: { command: '/usr/local/bin/relay --pulse 500; rm -rf /' } }).success, 'a string command');
  assert.ok(!ActuationConfigSchema.safeParse({ relay: { command: [] } }).success, 'no program');
  assert.ok(!ActuationConfigSchema.safeParse({ relay: { command: ['x'], pulseMs: 5000, timeoutMs: 1000 } }).success, 'timeout shorter than the pulse');
  assert.ok(!ActuationConfigSchema.safeParse({ webhook: { url: 'https://door.local/open', secret: 'short' } }).success, 'a guessable secret');
  assert.ok(!ActuationConfigSchema.safeParse({ webhook: { url: 'file:///etc/passwd', secret: SECRET } }).success, 'not http(s)');
  assert.ok(!ActuationConfigSchema.safeParse({ mqtt: { url: 'http://broker.local' } }).success, 'not an MQTT URL');
  assert.ok(!ActuationConfigSchema.safeParse({ webhok: {} }).success, 'a misspelt key');
});

test('fail-secure: the door may open only when model, gallery and camera are all known to be working', () => {
  assert.deepEqual(healthAllowsOpening(HEALTHY), { open: true, reasons: [] });
  assert.deepEqual(healthAllowsOpening(null), { open: false, reasons: ['health not reported yet'] });
  assert.deepEqual(healthAllowsOpening({ ...HEALTHY, camera: null }), { open: true, reasons: [] }, 'no server camera (the kiosk browser has it)');
  assert.deepEqual(healthAllowsOpening(CAMERA_DOWN), { open: false, reasons: ['camera: device disconnected'] });
  assert.deepEqual(healthAllowsOpening({ model: { ok: false, error: 'no model loaded' }, gallery: { ok: false, error: 'gallery.json unreadable' }, camera: null }), {
    open: false,
    reasons: ['model: no model loaded', 'gallery: gallery.json unreadable'],
  });
  assert.equal(decisionOpensDoor(grant(), HEALTHY).open, true);
  assert.equal(decisionOpensDoor(grant({ decision: 'denied', identity: null }), HEALTHY).open, false);
  assert.equal(decisionOpensDoor(grant(), CAMERA_DOWN).open, false);
  assert.deepEqual(decisionOpensDoor(grant({ liveness: { passed: false, method: 'blink' } }), HEALTHY), { open: false, reasons: ['liveness check failed'] });
  // With liveness required, a grant must carry a passed check: one without any (an API verify) opens nothing.
  const noCheck = grant({ liveness: undefined });
  assert.equal(decisionOpensDoor(noCheck, HEALTHY).open, true, 'no liveness required: a grant without a check opens');
  assert.equal(decisionOpensDoor(noCheck, HEALTHY, { requireLiveness: true }).open, false);
  assert.match(decisionOpensDoor(noCheck, HEALTHY, { requireLiveness: true }).reasons.join(), /liveness is required/);
  assert.equal(decisionOpensDoor(grant({ liveness: { passed: true, method: 'blink' } }), HEALTHY, { requireLiveness: true }).open, true);
  assert.equal(decisionOpensDoor(grant({ liveness: { passed: false, method: 'blink' } }), HEALTHY, { requireLiveness: true }).open, false);
});

test('signature: HMAC-SHA256 over "<timestamp>.<body>"; tampering, a wrong secret and a stale or future timestamp are refused', () => {
  const body = JSON.stringify({ id: 'e1', open: true });
  const now = Date.UTC(2025, 0, 1, 12, 0, 0);
  const headers = signWebhook(SECRET, body, now);
  assert.equal(headers[TIMESTAMP_HEADER], String(now / 1000));
  assert.match(headers[SIGNATURE_HEADER]!, /^sha256=[0-9a-f]{64}$/);
  assert.deepEqual(verifyWebhookSignature(SECRET, headers, body, { now }), { ok: true, timestamp: now / 1000 });
  // Header names as node:http gives them (lower case) and as a fetch Headers object.
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(verifyWebhookSignature(SECRET, lower, body, { now }).ok, true);
  assert.equal(verifyWebhookSignature(SECRET, new Headers(headers), body, { now }).ok, true);

  assert.deepEqual(verifyWebhookSignature(SECRET, headers, body.replace('true', 'false'), { now }), { ok: false, reason: 'bad signature' });
  assert.deepEqual(verifyWebhookSignature('another-secret-0123456789', headers, body, { now }), { ok: false, reason: 'bad signature' });
  // The timestamp moved forward to pass the tolerance, with the old signature.
  assert.deepEqual(verifyWebhookSignature(SECRET, { ...headers, [TIMESTAMP_HEADER]: String(now / 1000 + 60) }, body, { now: now + 60_000 }), { ok: false, reason: 'bad signature' });
  assert.deepEqual(verifyWebhookSignature(SECRET, headers, body, { now: now + 31_000 }), { ok: false, reason: 'stale timestamp' });
  assert.deepEqual(verifyWebhookSignature(SECRET, headers, body, { now: now + 31_000, toleranceSec: 60 }).ok, true);
  assert.deepEqual(verifyWebhookSignature(SECRET, headers, body, { now: now - 31_000 }), { ok: false, reason: 'stale timestamp' });
  assert.deepEqual(verifyWebhookSignature(SECRET, { [SIGNATURE_HEADER]: headers[SIGNATURE_HEADER] }, body, { now }), { ok: false, reason: 'missing headers' });
  assert.deepEqual(verifyWebhookSignature(SECRET, { ...headers, [TIMESTAMP_HEADER]: '1e9' }, body, { now }), { ok: false, reason: 'bad timestamp' });
});

test('webhook: a grant arrives signed at a real receiver, which refuses the same request replayed, re-dated or signed long ago', async () => {
  const ctl = doorController();
  const rx = await receiver(ctl.respond);
  const { door, of } = actuator({ webhook: webhook(rx.url) });
  try {
    const d = grant();
    const r = door.onDecision(d);
    assert.deepEqual({ open: r.open, reasons: r.reasons }, { open: true, reasons: [] });
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['webhook:ok']);
    assert.equal(rx.got.length, 1);
    assert.equal(rx.got[0]!.status, 200);
    assert.equal(rx.got[0]!.headers['content-type'], 'application/json');
    assert.equal(rx.got[0]!.headers['x-facegate-event-id'], r.eventId);
    assert.deepEqual(ctl.opened, [{ id: r.eventId, type: 'decision', ...d, open: true }]);

    // An eavesdropper resends the captured request as is: the receiver has seen that id.
    const captured = rx.got[0]!;
    const resend = (headers: Record<string, string>) => fetch(rx.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: captured.body });
    const sig = { [TIMESTAMP_HEADER]: String(captured.headers['x-facegate-timestamp']), [SIGNATURE_HEADER]: String(captured.headers['x-facegate-signature']) };
    assert.equal((await resend(sig)).status, 409);
    // ...with a fresh timestamp but the captured signature: it no longer matches.
    assert.equal((await resend({ ...sig, [TIMESTAMP_HEADER]: String(Math.floor(Date.now() / 1000) + 5) })).status, 401);
    // A request validly signed two minutes ago (captured then, replayed now): too old.
    const fresh = JSON.stringify({ ...JSON.parse(captured.body), id: 'never-seen' });
    assert.equal((await fetch(rx.url, { method: 'POST', headers: signWebhook(SECRET, fresh, Date.now() - 120_000), body: fresh })).status, 401);
    assert.equal(ctl.opened.length, 1, 'nothing opened but the genuine delivery');

    // A denial sends nothing to the door.
    const denied = door.onDecision(grant({ decision: 'denied', identity: null }));
    await denied.delivered;
    assert.equal(denied.open, false);
    assert.deepEqual(of(denied.eventId), []);
    assert.equal(rx.got.length, 4);
  } finally {
    await door.close();
    await rx.close();
  }
});

test('webhook retries: a receiver failing twice gets the same event a third time and it is delivered; a 401 is not retried', async () => {
  const ctl = doorController();
  const rx = await receiver((r, n) => (n <= 2 ? 503 : ctl.respond(r)));
  const { door, outcomes, of } = actuator({ webhook: webhook(rx.url, { retries: 3, backoffMs: 20 }) });
  try {
    const r = door.onDecision(grant());
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['webhook:retrying', 'webhook:retrying', 'webhook:ok']);
    assert.deepEqual(rx.got.map((g) => g.status), [503, 503, 200]);
    // The same body (and id) each time, each attempt validly signed.
    assert.ok(rx.got.every((g) => g.body === rx.got[0]!.body && verifyWebhookSignature(SECRET, g.headers, g.body).ok));
    const retries = outcomes.filter((o) => o.status === 'retrying');
    assert.deepEqual(retries.map((o) => [o.attempt, o.httpStatus]), [[1, 503], [2, 503]]);
    assert.match(retries[0]!.detail, /HTTP 503; retry 1 of 3 in 20 ms/);
    assert.match(retries[1]!.detail, /retry 2 of 3 in 40 ms/, 'backoff doubles');
    assert.equal(outcomes.find((o) => o.eventId === r.eventId && o.status === 'ok')!.attempt, 3);
    assert.equal(ctl.opened.length, 1);
  } finally {
    await door.close();
    await rx.close();
  }

  // A receiver that refuses the signature will not change its mind.
  const refusing = await receiver(() => 401);
  const b = actuator({ webhook: webhook(refusing.url, { retries: 3, backoffMs: 20 }) });
  try {
    const r = b.door.onDecision(grant());
    await r.delivered;
    assert.deepEqual(b.of(r.eventId), ['webhook:failed']);
    assert.equal(refusing.got.length, 1);
    assert.match(b.outcomes.at(-1)!.detail, /HTTP 401; gave up after 1 attempt$/);
  } finally {
    await b.door.close();
    await refusing.close();
  }
});

test('webhook timeout: a receiver that never answers fails each attempt after timeoutMs, then the event fails', async () => {
  let answer!: () => void;
  const hold = new Promise<number>((resolve) => (answer = () => resolve(200)));
  const rx = await receiver(() => hold);
  const { door, outcomes, of } = actuator({ webhook: webhook(rx.url, { timeoutMs: 200, retries: 1, backoffMs: 20 }) });
  try {
    const r = door.onDecision(grant());
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['webhook:retrying', 'webhook:failed']);
    assert.equal(rx.got.length, 2);
    assert.match(outcomes.at(-1)!.detail, /no answer within 200 ms; gave up after 2 attempts/);
  } finally {
    answer();
    await door.close();
    await rx.close();
  }
});

test('webhook queue: bounded; when full the oldest waiting event is dropped, and one too old to open the door is never delivered', async () => {
  let release!: () => void;
  let held = 0;
  const rx = await receiver(async (_r, n) => {
    if (n === 1) {
      held++;
      await new Promise<void>((resolve) => (release = resolve));
    }
    return 200;
  });
  const { door, of } = actuator({ webhook: webhook(rx.url, { queueMax: 2 }) });
  try {
    const a = door.onDecision(grant({ identity: { id: 'a', name: 'A' } }));
    await until('the first event in flight', () => held === 1);
    const [b, c, d] = ['b', 'c', 'd'].map((id) => door.onDecision(grant({ identity: { id, name: id } })));
    assert.equal(door.status().webhook!.queued, 2, 'never more than queueMax waiting');
    assert.deepEqual(of(b!.eventId), ['webhook:dropped'], 'the oldest waiting event made room for the newest');
    release();
    await Promise.all([a, b, c, d].map((x) => x!.delivered));
    assert.deepEqual(rx.events().map((e) => e.type === 'decision' && e.identity?.id), ['a', 'c', 'd']);
    assert.deepEqual([a, c, d].map((x) => of(x!.eventId)), [['webhook:ok'], ['webhook:ok'], ['webhook:ok']]);
  } finally {
    release?.();
    await door.close();
    await rx.close();
  }

  // maxAgeMs 150: the second grant waits ~400 ms behind a stalled one, so it expires unsent.
  held = 0;
  const slow = await receiver(async (_r, n) => {
    if (n === 1) {
      held++;
      await sleep(400);
    }
    return 200;
  });
  const s = actuator({ webhook: webhook(slow.url, { maxAgeMs: 150 }) });
  try {
    const first = s.door.onDecision(grant());
    await until('the first event in flight', () => held === 1);
    const late = s.door.onDecision(grant());
    await Promise.all([first.delivered, late.delivered]);
    assert.deepEqual(s.of(first.eventId), ['webhook:ok']);
    assert.deepEqual(s.of(late.eventId), ['webhook:expired']);
    assert.match(s.outcomes.at(-1)!.detail, /not delivered within 150 ms; dropped rather than opening the door late/);
    assert.deepEqual(slow.events().map((e) => e.id), [first.eventId], 'the late grant never reached the door');
  } finally {
    await s.door.close();
    await slow.close();
  }
});

test('relay hook: a grant runs the configured program with the pulse time, no shell; its exit status and a timeout are reported', async () => {
  const file = path.join(tmp, 'relay.json');
  // Shell syntax in an argument stays a literal string: there is no shell to interpret it.
  const trap = path.join(tmp, 'pwned');
  const { door, outcomes, of } = actuator({ relay: { command: relayScript(file, [`$(touch ${trap})`, '; echo hi']), pulseMs: 250 } });
  try {
    const r = door.onDecision(grant({ door: 'side' }));
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['relay:ok']);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { pulseMs: '250', door: 'side', args: [`$(touch ${trap})`, '; echo hi'] });
    assert.equal(existsSync(trap), false);
    assert.equal(outcomes.at(-1)!.exitCode, 0);
    assert.match(outcomes.at(-1)!.detail, /pulsed 250 ms \(exit 0\)/);

    // No relay pulse for a denial.
    await rm(file);
    await door.onDecision(grant({ decision: 'denied', identity: null })).delivered;
    assert.equal(existsSync(file), false);
  } finally {
    await door.close();
  }

  const failing = actuator({ relay: { command: [process.execPath, '-e', "console.error('gpio17: permission denied'); process.exit(3)"] } });
  const f = failing.door.onDecision(grant());
  await f.delivered;
  assert.deepEqual(failing.of(f.eventId), ['relay:failed']);
  assert.equal(failing.outcomes.at(-1)!.exitCode, 3);
  assert.match(failing.outcomes.at(-1)!.detail, /exit 3: gpio17: permission denied/);

  const hanging = actuator({ relay: { command: [process.execPath, '-e', 'setTimeout(() => {}, 30000)'], pulseMs: 50, timeoutMs: 300 } });
  const h = hanging.door.onDecision(grant());
  // A second grant during the pulse adds nothing: the door is already open.
  const again = hanging.door.onDecision(grant());
  await Promise.all([h.delivered, again.delivered]);
  assert.deepEqual(hanging.of(again.eventId), ['relay:dropped']);
  assert.deepEqual(hanging.of(h.eventId), ['relay:failed']);
  assert.match(hanging.outcomes.find((o) => o.eventId === h.eventId)!.detail, /killed after 300 ms \(SIGTERM\)/);

  const missing = actuator({ relay: { command: [path.join(tmp, 'no-such-relay')] } });
  const m = missing.door.onDecision(grant());
  await m.delivered;
  assert.match(missing.outcomes.at(-1)!.detail, /cannot run .*no-such-relay: ENOENT/);
});

test('fail-secure: with the camera or the model in error, or health never reported, a grant opens nothing (no webhook, no relay)', async () => {
  const ctl = doorController();
  const rx = await receiver(ctl.respond);
  const file = path.join(tmp, 'fail-secure-relay.json');
  const config = { webhook: webhook(rx.url), relay: { command: relayScript(file) } };
  const { door, outcomes, of } = actuator(config, CAMERA_DOWN);
  const unreported = actuator(config, null);
  try {
    assert.deepEqual(door.mayOpen(), { open: false, reasons: ['camera: device disconnected'] });
    const r = door.onDecision(grant());
    assert.deepEqual({ open: r.open, reasons: r.reasons }, { open: false, reasons: ['camera: device disconnected'] });
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['fail-secure:blocked']);
    assert.match(outcomes.at(-1)!.detail, /door kept shut: camera: device disconnected/);

    assert.deepEqual(door.health({ ...HEALTHY, model: { ok: false, error: 'model failed to load' } }), { open: false, reasons: ['model: model failed to load'] });
    const m = door.onDecision(grant());
    await m.delivered;
    assert.equal(m.open, false);

    const u = unreported.door.onDecision(grant());
    await u.delivered;
    assert.deepEqual(u.reasons, ['health not reported yet']);

    assert.equal(rx.got.length, 0, 'the door controller received nothing');
    assert.equal(existsSync(file), false, 'the relay did not run');

    // Once everything is healthy again, the same grant opens.
    door.health(HEALTHY);
    const ok = door.onDecision(grant());
    await ok.delivered;
    assert.equal(ok.open, true);
    assert.deepEqual(of(ok.eventId).sort(), ['relay:ok', 'webhook:ok']);
    assert.equal(ctl.opened.length, 1);
    assert.ok(existsSync(file));
  } finally {
    await door.close();
    await unreported.door.close();
    await rx.close();
  }
});

test('"test the door": pulses the relay and sends a signed test event, reporting each channel; disabled channels say so', async () => {
  const ctl = doorController();
  const rx = await receiver(ctl.respond);
  const file = path.join(tmp, 'test-relay.json');
  const { door } = actuator({ webhook: webhook(rx.url), relay: { command: relayScript(file), pulseMs: 300 } }, CAMERA_DOWN);
  try {
    const report = await door.test({ door: 'front' });
    assert.equal(report.webhook.status, 'ok');
    assert.equal(report.relay.status, 'ok');
    assert.deepEqual(report.mqtt, { status: 'disabled' });
    // Fail-secure refuses grants, and the report says so; the admin's test still opens.
    assert.deepEqual(report.health, { open: false, reasons: ['camera: device disconnected'] });
    assert.deepEqual(ctl.opened.map((e) => [e.type, e.id, e.door]), [['test', report.eventId, 'front']]);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).pulseMs, '300');
  } finally {
    await door.close();
    await rx.close();
  }
  // A receiver that is down (nothing listens on the port): one attempt, the failure reported at once.
  const down = actuator({ webhook: webhook(`http://127.0.0.1:${await freePort()}/door`, { retries: 5 }) });
  const report = await down.door.test();
  assert.equal(report.webhook.status, 'failed');
  assert.match((report.webhook as { detail: string }).detail, /ECONNREFUSED.*gave up after 1 attempt/);
  await down.door.close();
});

test('door state payloads: "open"/"closed" or {"state": ...}; anything else is unknown', () => {
  assert.equal(parseDoorState('open'), 'open');
  assert.equal(parseDoorState(Buffer.from(' CLOSED\n')), 'closed');
  assert.equal(parseDoorState('{"state":"open"}'), 'open');
  for (const bad of ['ajar', '', '{"state":1}', '{"state":', '1']) assert.equal(parseDoorState(bad), 'unknown', bad);
});

// ---- MQTT on a real mosquitto ----


const topics = { decisions: 'test/door/decisions', health: 'test/door/health', doorState: 'test/door/state' };

test('MQTT: decisions at QoS 1 (an "open" expires at the broker), health retained, the door state subscribed; offline when closed', { skip: broker.skip }, async () => {
  const b = await startBroker(tmp);
  // What a dashboard or door controller would run; MQTT 5, to see the message properties.
  const sub = await connectAsync(b.url, { protocolVersion: 5, clientId: 'test-subscriber', reconnectPeriod: 0 });
  const messages: { topic: string; json: Record<string, unknown>; packet: IPublishPacket }[] = [];
  const on = (topic: string) => messages.filter((m) => m.topic === topic);
  sub.on('message', (topic, payload, packet) => messages.push({ topic, json: JSON.parse(payload.toString()) as Record<string, unknown>, packet }));
  await sub.subscribeAsync([topics.decisions, topics.health], { qos: 1 });
  const { door, of } = actuator({ mqtt: { url: b.url, clientId: 'facegate-test', topics } }, null);
  const states: [DoorState, DoorState][] = [];
  door.onDoorState((s, prev) => states.push([s, prev]));
  try {
    await door.ready();
    door.health(HEALTHY);
    await until('the health message', () => on(topics.health).length === 1);
    const health = on(topics.health)[0]!;
    assert.deepEqual(health.json, { type: 'health', online: true, time: health.json.time, ...HEALTHY, mayOpen: true, reasons: [] });
    assert.equal(health.packet.retain, false, 'live delivery; the broker keeps a retained copy for newcomers (checked below)');
    door.health(HEALTHY);

    const d = grant();
    const r = door.onDecision(d);
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['mqtt:ok']);
    await until('the decision message', () => on(topics.decisions).length === 1);
    const granted = on(topics.decisions)[0]!;
    assert.deepEqual(granted.json, { id: r.eventId, type: 'decision', ...d, open: true });
    assert.equal(granted.packet.qos, 1, 'subscribed at QoS 1 and delivered at QoS 1: published at QoS 1');
    assert.equal(granted.packet.properties?.messageExpiryInterval, 5, 'an "open" expires after maxAgeMs (5 s)');
    assert.equal(on(topics.health).length, 1, 'unchanged health is not published again');

    // Camera down: health says so, and the grant goes out as a denial with the reasons.
    door.health(CAMERA_DOWN);
    await until('the second health message', () => on(topics.health).length === 2);
    assert.deepEqual(on(topics.health)[1]!.json.reasons, ['camera: device disconnected']);
    const blocked = door.onDecision(grant());
    await blocked.delivered;
    await until('the blocked decision', () => on(topics.decisions).length === 2);
    const { decision, open, failSecure } = on(topics.decisions)[1]!.json;
    assert.deepEqual({ decision, open, failSecure }, { decision: 'denied', open: false, failSecure: ['camera: device disconnected'] });
    assert.equal(on(topics.decisions)[1]!.packet.properties?.messageExpiryInterval, undefined, 'a denial does not expire');

    // A dashboard connecting now gets the current health, retained.
    const late = await connectAsync(b.url, { clientId: 'late-dashboard', reconnectPeriod: 0 });
    const retained = new Promise<Record<string, unknown>>((resolve) => late.once('message', (_t, p) => resolve(JSON.parse(p.toString()))));
    await late.subscribeAsync(topics.health, { qos: 1 });
    assert.equal((await retained).mayOpen, false);
    await late.endAsync();

    // The door controller reports its state (retained, as controllers do).
    await sub.publishAsync(topics.doorState, 'open', { qos: 1, retain: true });
    await until('door state open', () => door.doorState === 'open');
    await sub.publishAsync(topics.doorState, JSON.stringify({ state: 'closed' }), { qos: 1, retain: true });
    await until('door state closed', () => door.doorState === 'closed');
    await sub.publishAsync(topics.doorState, 'ajar', { qos: 1 });
    await until('door state unknown', () => door.doorState === 'unknown');
    assert.deepEqual(states, [['open', 'unknown'], ['closed', 'open'], ['unknown', 'closed']]);

    const t = await door.test();
    assert.equal(t.mqtt.status, 'ok');
    await until('the test message', () => on(topics.decisions).some((m) => m.json.type === 'test' && m.json.id === t.eventId));

    await door.close();
    // Closed: the retained health says the kiosk is offline.
    await until('the offline health message', () => on(topics.health).at(-1)?.json.online === false);
  } finally {
    await door.close();
    await sub.endAsync(true);
    await b.stop();
  }
});

test('MQTT: the retained door state reaches a new client; with the broker gone the state is unknown and decisions are dropped, not queued', { skip: broker.skip }, async () => {
  const b = await startBroker(tmp);
  const controller = await connectAsync(b.url, { clientId: 'door-controller', reconnectPeriod: 0 });
  await controller.publishAsync(topics.doorState, 'closed', { qos: 1, retain: true });
  await controller.endAsync();
  const { door, outcomes, of } = actuator({ mqtt: { url: b.url, clientId: 'facegate-test-2', topics } });
  try {
    await door.ready();
    await until('the retained door state', () => door.doorState === 'closed');
    assert.equal(door.status().mqtt!.connected, true);

    await b.stop();
    await until('the disconnect', () => door.doorState === 'unknown' && !door.status().mqtt!.connected);
    const r = door.onDecision(grant());
    await r.delivered;
    assert.deepEqual(of(r.eventId), ['mqtt:dropped']);
    assert.match(outcomes.at(-1)!.detail, /not connected to the broker.*not queued/);
  } finally {
    await door.close();
    await b.stop();
  }
});
