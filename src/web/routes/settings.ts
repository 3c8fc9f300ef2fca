// Settings page: matching (metric, threshold + ROC preview), k-of-n, camera source, crops, and
// the admin password (stored hashed in the admin file; old cookie sessions end with it).
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { AdminStore } from '../../config/admin-store.js';
import { adminFilePath } from '../../config/load.js';
import { passwordProblem } from '../../config/password.js';
import { remoteAddress } from '../../http/auth.js';
import { statusOf } from '../../http/status.js';
import type { AppDeps } from '../../http/types.js';
import { CAMERA_SOURCE_HELP, parseCameraSource } from '../../camera/index.js';
import { html, notice, postedThreshold, type Html } from '../../../views/html.js';
import { doorTestResult, settingsPage, thresholdInput, thresholdPreview, type DoorView, type ThresholdPreview } from '../../../views/settings.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import { Checkbox, refuse } from '../form.js';
import { operatingPoint, rocOf } from '../roc.js';
import { formatWait, waitSeconds } from '../wait.js';
import type { WebEnv } from '../types.js';

const Metric = z.enum(['cosine', 'euclidean']);

const SettingsForm = z
  .object({
    metric: Metric,
    threshold: z.coerce.number().finite(),
    k: z.coerce.number().int().min(1).max(100),
    n: z.coerce.number().int().min(1).max(100),
    cameraSource: z.string().trim().min(1).max(256),
    keepCrops: Checkbox,
    keepSnapshots: Checkbox,
    requireLiveness: Checkbox,
    livenessMode: z.enum(['active', 'both', 'passive']).default('active'),
  })
  .refine((v) => v.k <= v.n, { message: 'k must not exceed n', path: ['k'] })
  .refine((v) => (v.metric === 'cosine' ? v.threshold >= -1 && v.threshold <= 1 : v.threshold >= 0 && v.threshold <= 2), {
    message: 'a cosine threshold lies in [-1, 1], a distance threshold in [0, 2]',
    path: ['threshold'],
  });

/** The door section: blank URL / command turns that channel off; a blank secret keeps the stored one. */
const DoorForm = z.object({
  webhookUrl: z.string().trim().max(2000).default(''),
  webhookSecret: z.string().max(1000).default(''),
  mqttUrl: z.string().trim().max(2000).default(''),
  mqttTopic: z.string().trim().min(1).max(200).default('facegate/door/decisions'),
  relayCommand: z.string().max(4000).default(''),
  relayPulseMs: z.coerce.number().int().min(50).max(60_000).default(1000),
});

// The new password's rules are passwordProblem's (config/password.ts), checked after the current one.
const PasswordForm = z.object({ current: z.string().default(''), password: z.string().default(''), repeat: z.string().default('') });

export function settingsRoutes(deps: AppDeps): Hono<WebEnv> {
  const { service, config, auth, site } = deps;
  const app = new Hono<WebEnv>();
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxJsonBytes);

  const preview = (metric: 'cosine' | 'euclidean', threshold: number): ThresholdPreview => {
    const meta = service.embedder?.meta;
    const roc = rocOf(meta);
    const rec = meta?.thresholds?.[metric] ?? null;
    return { metric, threshold, modelId: service.modelId, point: roc ? operatingPoint(roc, metric, threshold) : null, recommended: rec };
  };

  const doorView = (): DoorView | null => {
    const status = site.actuation.status();
    if (!status) return null;
    const channels = (['webhook', 'mqtt', 'relay'] as const).filter((k) => status[k] !== null);
    return { blocked: site.actuation.blocked(), doorState: status.doorState, channels };
  };

  const render = (c: Context<WebEnv>, extra: { message?: Html; passwordMessage?: Html; doorMessage?: Html } = {}, status: ContentfulStatusCode = 200) => {
    const s = service.getSettings();
    return c.html(
      settingsPage({
        csrf: csrfOf(c),
        settings: s,
        preview: thresholdPreview(preview(s.metric, s.thresholds[s.metric])),
        cameraHelp: `Where frames come from: ${CAMERA_SOURCE_HELP}.`,
        passwordFixed: config.adminPasswordHash !== null,
        door: doorView(),
        ...extra,
      }),
      status,
    );
  };

  app.get('/settings', (c) => {
    const q = c.req.query();
    const message = q.saved ? notice('ok', 'Settings saved.') : undefined;
    const doorMessage = q.door === 'saved' ? notice('ok', 'Door saved.') : undefined;
    const passwordMessage = q.password === 'changed' ? notice('ok', 'Password changed. Other browsers have been logged out.') : undefined;
    return render(c, { message, passwordMessage, doorMessage });
  });

  app.get('/settings/preview', (c) => {
    const metric = Metric.safeParse(c.req.query('metric'));
    if (!metric.success) return c.html(thresholdPreview({ metric: 'cosine', threshold: 0, modelId: null, point: null, recommended: null, error: 'choose a metric' }), 400);
    // Switching metric shows that metric's stored threshold (each metric keeps its own).
    if (c.req.query('switch')) {
      const t = service.getSettings().thresholds[metric.data];
      return c.html(html`${thresholdPreview(preview(metric.data, t))}${thresholdInput(t, true)}`);
    }
    const threshold = Number(c.req.query('threshold'));
    if (!Number.isFinite(threshold)) return c.html(thresholdPreview({ ...preview(metric.data, 0), error: 'enter a number' }), 400);
    return c.html(thresholdPreview(preview(metric.data, threshold)));
  });

  const notSaved = refuse<WebEnv>((c, message) => render(c, { message: notice('error', `Not saved: ${message}`) }, 400), { paths: true });

  app.post('/settings', ...csrf, zValidator('form', SettingsForm, notSaved), async (c) => {
    const v = c.req.valid('form');
    try {
      parseCameraSource(v.cameraSource);
    } catch (err) {
      return render(c, { message: notice('error', `Not saved: ${(err as Error).message}`) }, 400);
    }
    try {
      await service.updateSettings({
        metric: v.metric,
        // The field shows 3 decimals: the same value posted back keeps the stored full precision.
        thresholds: { [v.metric]: postedThreshold(v.threshold, service.getSettings().thresholds[v.metric]) },
        kOfN: { k: v.k, n: v.n },
        camera: { source: v.cameraSource },
        keepCrops: v.keepCrops,
        keepSnapshots: v.keepSnapshots,
        liveness: { requireLiveness: v.requireLiveness, mode: v.livenessMode },
      });
    } catch (err) {
      if (!isServiceError(err)) throw err;
      return render(c, { message: notice('error', `Not saved: ${err.message}`) }, statusOf(err));
    }
    return c.redirect('/admin/settings?saved=1', 303);
  });

  const doorNotSaved = refuse<WebEnv>((c, message) => render(c, { doorMessage: notice('error', `Not saved: ${message}`) }, 400), { paths: true });

  app.post('/settings/door', ...csrf, zValidator('form', DoorForm, doorNotSaved), async (c) => {
    const v = c.req.valid('form');
    const current = service.doorSettings();
    const command = v.relayCommand.split(/\r?\n/).map((a) => a.trim()).filter((a) => a !== '');
    // A channel left blank is switched off (kept as it was, so turning it on again keeps its options).
    const door = {
      webhook: v.webhookUrl ? { enabled: true, url: v.webhookUrl, ...(v.webhookSecret ? { secret: v.webhookSecret } : {}) } : current.webhook && { enabled: false },
      mqtt: v.mqttUrl ? { enabled: true, url: v.mqttUrl, topics: { decisions: v.mqttTopic } } : current.mqtt && { enabled: false },
      relay: command.length ? { enabled: true, command, pulseMs: v.relayPulseMs } : current.relay && { enabled: false },
    };
    if (door.webhook?.enabled && !current.webhook && !v.webhookSecret) return render(c, { doorMessage: notice('error', 'Not saved: the webhook needs a signing secret.') }, 400);
    try {
      await service.updateSettings({ door });
    } catch (err) {
      if (!isServiceError(err)) throw err;
      return render(c, { doorMessage: notice('error', `Not saved: ${err.message}`) }, statusOf(err));
    }
    return c.redirect('/admin/settings?door=saved', 303);
  });

  app.post('/settings/door/test', ...csrf, async (c) => {
    const r = await site.actuation.test('test (settings page)');
    if (!r) return c.html(doorTestResult(null), 409);
    const line = (channel: string, t: typeof r.webhook) => ({ channel, ok: t.status === 'ok' || t.status === 'disabled', detail: t.status === 'disabled' ? 'not configured' : `${t.status}${'detail' in t && t.detail ? `: ${t.detail}` : ''}` });
    return c.html(doorTestResult([line('webhook', r.webhook), line('MQTT', r.mqtt), line('relay', r.relay)]));
  });

  const notChanged = refuse<WebEnv>((c, message) => render(c, { passwordMessage: notice('error', `Not changed: ${message}.`) }, 400));

  app.post('/settings/password', ...csrf, zValidator('form', PasswordForm, notChanged), async (c) => {
    if (config.adminPasswordHash !== null) return render(c, { passwordMessage: notice('error', 'The password is fixed in the configuration.') }, 400);
    const { current, password: next, repeat } = c.req.valid('form');
    const client = remoteAddress(c) ?? 'unknown';
    // Counted against this client like a login.
    const check = await auth.check(current, client);
    if (check.lockedMs > 0) {
      const res = await render(c, { passwordMessage: notice('error', `Too many wrong passwords: try again in ${formatWait(check.lockedMs)}.`) }, 429);
      res.headers.set('Retry-After', String(waitSeconds(check.lockedMs)));
      return res;
    }
    if (!check.ok) return render(c, { passwordMessage: notice('error', 'The current password is wrong.') }, 401);
    const problem = passwordProblem(next) ?? (next !== repeat ? 'the two new passwords differ' : null);
    if (problem) return render(c, { passwordMessage: notice('error', `Not changed: ${problem}.`) }, 400);
    const store = await AdminStore.open(adminFilePath(config));
    await store.setPassword(next);
    // The store rotated the cookie secret, so other browsers' cookies no longer verify; their
    // tokens also work as bearer tokens, so every session ends and this browser gets a new one.
    auth.opts.passwordHash = store.passwordHash;
    auth.opts.secret = store.sessionSecret;
    auth.revokeAll();
    const mine = await auth.login(next, client);
    if (mine.ok) await auth.setCookie(c, mine.token);
    return c.redirect('/admin/settings?password=changed', 303);
  });

  return app;
}
