// Kiosk screen. With the page's own camera (data-camera="browser") it captures with getUserMedia
// and posts JPEG frames to /kiosk/frame one at a time; the server keeps the k-of-n state and
// answers what to show. With a server camera (data-camera="server") it shows the frames and
// states pushed on /kiosk/events (SSE). No inline script: the page's CSP forbids it.
(() => {
  'use strict';
  const body = document.body;
  const $ = (sel) => document.querySelector(sel);
  const token = $('meta[name="csrf-token"]').content;
  const frameMs = Number(body.dataset.frameMs) || 150;
  const video = $('#kiosk-video');
  const image = $('#kiosk-image');
  const overlay = $('#kiosk-overlay');
  const stateEl = $('#kiosk-state');
  const messageEl = $('#kiosk-message');
  const detailEl = $('#kiosk-detail');
  const progressEl = $('#kiosk-progress');
  const COLORS = { granted: '#2ee66b', denied: '#ff4b3e', checking: '#5aa9ff', adjust: '#ffbf00' };
  let frames = 0;

  /** The face box on the overlay, mapped like object-fit: contain maps the source. */
  function drawBox(box, srcW, srcH, state) {
    const w = overlay.clientWidth;
    const h = overlay.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    overlay.width = Math.round(w * dpr);
    overlay.height = Math.round(h * dpr);
    const ctx = overlay.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (!box || !srcW || !srcH) return;
    const scale = Math.min(w / srcW, h / srcH);
    const ox = (w - srcW * scale) / 2;
    const oy = (h - srcH * scale) / 2;
    ctx.lineWidth = 6;
    ctx.strokeStyle = COLORS[state] || '#ffffff';
    ctx.strokeRect(ox + box.x * scale, oy + box.y * scale, box.width * scale, box.height * scale);
  }

  function show(view, srcW, srcH) {
    stateEl.className = `state state-${view.state}`;
    stateEl.dataset.state = view.state;
    if (messageEl.textContent !== view.message) messageEl.textContent = view.message;
    detailEl.textContent = view.detail || '';
    progressEl.replaceChildren();
    if (view.progress) {
      for (let i = 0; i < view.progress.need; i++) {
        const dot = document.createElement('span');
        if (i < view.progress.have) dot.className = 'on';
        progressEl.append(dot);
      }
    }
    drawBox(view.box, srcW, srcH, view.state);
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function browserCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      show({ state: 'camera_error', message: 'Camera not available', detail: 'This browser gives the page no camera (it needs https or localhost).' });
      return;
    }
    const grab = document.createElement('canvas');
    for (;;) {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      } catch (err) {
        show({ state: 'camera_error', message: 'Camera not available', detail: `${err.name}: ${err.message}. Retrying…` });
        await sleep(5000);
        continue;
      }
      const track = stream.getVideoTracks()[0];
      video.srcObject = stream;
      await video.play().catch(() => {});
      while (track.readyState === 'live') {
        const t0 = performance.now();
        const vw = video.videoWidth;
        const vh = video.videoHeight;
        if (!vw || !vh) {
          await sleep(100);
          continue;
        }
        // At most 640 px wide: enough for the detector, small enough to post several times a second.
        const scale = Math.min(1, 640 / vw);
        grab.width = Math.round(vw * scale);
        grab.height = Math.round(vh * scale);
        grab.getContext('2d').drawImage(video, 0, 0, grab.width, grab.height);
        const blob = await new Promise((r) => grab.toBlob(r, 'image/jpeg', 0.85));
        try {
          const res = await fetch('/kiosk/frame', {
            method: 'POST',
            headers: { 'Content-Type': 'image/jpeg', 'X-CSRF-Token': token, Accept: 'application/json' },
            body: blob,
            credentials: 'same-origin',
          });
          const data = await res.json().catch(() => ({}));
          frames++;
          body.dataset.frames = String(frames);
          if (res.ok) show(data, grab.width / scale, grab.height / scale);
          else {
            show({ state: 'offline', message: 'Not in service', detail: (data.error && data.error.message) || `HTTP ${res.status}` });
            // A stale page (the server's secret rotated with a password change, or its kiosk
            // session is gone): a reload gets a fresh token and session. Unattended screens need this.
            const code = data.error && data.error.code;
            if (code === 'csrf' || code === 'no_kiosk_session') {
              await sleep(3000);
              location.reload();
              return;
            }
          }
        } catch (err) {
          show({ state: 'offline', message: 'Not in service', detail: `The kiosk server does not answer (${err.message}).` });
          await sleep(2000);
        }
        await sleep(Math.max(0, frameMs - (performance.now() - t0)));
      }
      show({ state: 'camera_error', message: 'Camera not available', detail: 'The camera stopped. Retrying…' });
      await sleep(2000);
    }
  }

  function serverCamera() {
    video.hidden = true;
    image.hidden = false;
    let last = null;
    image.addEventListener('load', () => {
      if (last) show(last, image.naturalWidth, image.naturalHeight);
    });
    const events = new EventSource('/kiosk/events');
    events.addEventListener('kiosk', (e) => {
      const d = JSON.parse(e.data);
      frames++;
      body.dataset.frames = String(frames);
      last = d.view;
      if (d.image) image.src = `data:image/jpeg;base64,${d.image}`;
      else show(d.view, 0, 0);
    });
    events.addEventListener('error', () => {
      if (events.readyState === EventSource.CLOSED) show({ state: 'offline', message: 'Not in service', detail: 'Lost the kiosk server.' });
    });
  }

  // 'none': the camera setting is unusable; the server's state on the page says why.
  if (body.dataset.camera === 'server') serverCamera();
  else if (body.dataset.camera === 'browser') browserCamera();
})();
