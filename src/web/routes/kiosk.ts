// The kiosk screen (/) and its camera endpoints: POST /kiosk/frame for frames the page captures
// itself (k-of-n state per kiosk session, kept here), GET /kiosk/events (SSE) for the server's
// own camera. Both follow the recognition access policy, like /api/verify.
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { requireAccess } from '../../http/guards.js';
import { statusOf } from '../../http/status.js';
import { acceptContent } from '../../http/validation.js';
import type { AppDeps } from '../../http/types.js';
import { kioskPage } from '../../../views/kiosk.js';
import type { CameraHub, KioskStations, KioskView } from '../../door/index.js';
import { csrfOf, requireCsrf } from '../csrf.js';
import { isServiceError } from '../../service/errors.js';
import type { WebEnv } from '../types.js';

export const KIOSK_COOKIE = 'facegate_kiosk';
const KIOSK_ID = /^[A-Za-z0-9_-]{22,64}$/;

export interface KioskRouteOptions {
  hub: CameraHub;
  stations: KioskStations;
  /** Pause between frames the page posts (it also waits for each answer). */
  frameIntervalMs: number;
  /** An SSE stream ends after this and the browser reconnects, so a server shutdown never waits long on it. */
  sseMaxMs: number;
}

export function kioskRoutes(deps: AppDeps, o: KioskRouteOptions): Hono<WebEnv> {
  const { service, config, auth } = deps;
  const app = new Hono<WebEnv>();
  const access = requireAccess(config.access.recognition, auth);
  const csrf = requireCsrf(() => auth.opts.secret, config.limits.maxImageBytes);

  app.get('/', (c) => {
    if (!KIOSK_ID.test(getCookie(c, KIOSK_COOKIE) ?? '')) {
      setCookie(c, KIOSK_COOKIE, randomBytes(24).toString('base64url'), { httpOnly: true, sameSite: 'Strict', secure: config.session.secureCookie, path: '/' });
    }
    const cam = o.hub.current();
    let state = 'look';
    let message = 'Look at the camera';
    let detail: string | null = null;
    if (cam.error) [state, message, detail] = ['camera_error', 'Camera not available', cam.error];
    else if (!service.embedder) [state, message, detail] = ['offline', 'Not in service', 'No face model is loaded: recognition is off'];
    return c.html(
      kioskPage({
        csrf: csrfOf(c),
        camera: cam.error ? 'none' : cam.loop ? 'server' : 'browser',
        cameraLabel: cam.label,
        state,
        message,
        detail,
        frameIntervalMs: o.frameIntervalMs,
      }),
    );
  });

  app.post('/kiosk/frame', access, ...csrf, acceptContent(['image/*']), async (c) => {
    const id = getCookie(c, KIOSK_COOKIE);
    if (!id || !KIOSK_ID.test(id)) return c.json({ error: { code: 'no_kiosk_session', message: 'no kiosk session: reload the kiosk page' } }, 400);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) return c.json({ error: { code: 'empty_image', message: 'the frame is empty' } }, 400);
    try {
      return c.json(await o.stations.get(id).frame(bytes));
    } catch (err) {
      // The API's statuses: a full queue is a 503 the page retries, a frame that does not decode a 4xx.
      if (isServiceError(err)) return c.json({ error: { code: err.code, message: err.message } }, statusOf(err));
      throw err;
    }
  });

  app.get('/kiosk/events', access, (c) => {
    const cam = o.hub.current();
    return streamSSE(c, async (stream) => {
      let first = true;
      const send = (view: KioskView, jpeg?: Uint8Array) => {
        const data = JSON.stringify({ view, camera: cam.label, image: jpeg ? Buffer.from(jpeg).toString('base64') : null });
        // retry: reconnect quickly when the stream ends (sseMaxMs) or the server restarts.
        const msg = first ? { event: 'kiosk', data, retry: 1000 } : { event: 'kiosk', data };
        first = false;
        return stream.writeSSE(msg);
      };
      if (!cam.loop) {
        const view: KioskView = cam.error
          ? { state: 'camera_error', message: 'Camera not available', detail: cam.error, box: null, progress: null }
          : { state: 'camera_error', message: 'No server camera', detail: 'The camera source is the kiosk page\'s own camera', box: null, progress: null };
        await send(view);
        return;
      }
      let done: () => void = () => {};
      const finished = new Promise<void>((resolve) => (done = resolve));
      let writing = Promise.resolve();
      const unsubscribe = cam.loop.subscribe((e) => {
        const view: KioskView =
          e.type === 'frame'
            ? e.result
            : { state: 'camera_error', message: 'Camera not available', detail: `${e.message} (retrying every ${Math.round(e.retryInMs / 1000)} s)`, box: null, progress: null };
        // One write at a time; a slow client just gets the frames it can take.
        writing = writing.then(() => send(view, e.type === 'frame' ? e.frame.jpeg : undefined)).catch(() => done());
      });
      stream.onAbort(() => done());
      const timer = setTimeout(() => done(), o.sseMaxMs);
      await finished;
      clearTimeout(timer);
      unsubscribe();
      await writing;
    });
  });

  return app;
}
