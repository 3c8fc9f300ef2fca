// The kiosk screen at the door: camera preview with the face box, and one big clear state.
import { html, type Html } from './html.js';
import { layout } from './layout.js';

export interface KioskPage {
  csrf: string;
  /**
   * 'browser': this page captures with getUserMedia and posts frames; 'server': it watches
   * /kiosk/events; 'none': the camera setting is unusable (the state says why).
   */
  camera: 'browser' | 'server' | 'none';
  cameraLabel: string;
  /** The initial state (no model, bad camera setting...). */
  state: string;
  message: string;
  detail: string | null;
  frameIntervalMs: number;
}

export function kioskPage(p: KioskPage): Html {
  return layout(
    {
      title: 'Kiosk',
      csrf: p.csrf,
      admin: false,
      bodyClass: 'kiosk',
      scripts: ['kiosk.js'],
      data: { camera: p.camera, 'camera-label': p.cameraLabel, 'frame-ms': String(p.frameIntervalMs) },
    },
    html`<div class="kiosk-screen">
  <div class="preview" id="kiosk-preview">
    <video id="kiosk-video" autoplay muted playsinline aria-hidden="true"></video>
    <img id="kiosk-image" alt="" hidden>
    <canvas id="kiosk-overlay" aria-hidden="true"></canvas>
  </div>
  <section id="kiosk-state" class="state state-${p.state}" role="status" aria-live="assertive" aria-atomic="true">
    <p class="state-message" id="kiosk-message">${p.message}</p>
    <p class="state-detail" id="kiosk-detail">${p.detail ?? ''}</p>
    <div class="state-progress" id="kiosk-progress" aria-hidden="true"></div>
  </section>
  <a class="kiosk-admin" href="/admin">Admin</a>
</div>`,
  );
}
