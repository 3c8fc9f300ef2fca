// Enrollment page: live quality feedback on the kiosk camera (POST /admin/enroll/check), manual or
// guided capture of samples, and the captures handed to the form as files (a hidden file input
// filled through DataTransfer), so htmx or a plain submit sends them with any uploaded photos.
(() => {
  'use strict';
  const body = document.body;
  const $ = (sel) => document.querySelector(sel);
  const token = $('meta[name="csrf-token"]').content;
  const target = Number(body.dataset.target) || 5;
  const video = $('#enroll-video');
  const image = $('#enroll-image');
  const overlay = $('#enroll-overlay');
  const guide = $('#enroll-guide');
  const startBtn = $('#camera-start');
  const captureBtn = $('#capture');
  const autoBtn = $('#auto-capture');
  const clearBtn = $('#clear-captures');
  const countEl = $('#capture-count');
  const filesInput = $('#camera-files');
  const list = $('#captured');
  const GUIDES = [
    'Look straight at the camera',
    'Turn your head slightly to the left',
    'Turn your head slightly to the right',
    'Tilt your chin up a little',
    'Tilt your chin down a little',
  ];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let captures = [];
  let latest = null;
  let auto = false;
  let lastAuto = 0;
  let running = false;

  function sync() {
    const dt = new DataTransfer();
    captures.forEach((c, i) => dt.items.add(new File([c.blob], `camera-${i + 1}.jpg`, { type: 'image/jpeg' })));
    filesInput.files = dt.files;
    countEl.textContent = `${captures.length} sample${captures.length === 1 ? '' : 's'} captured`;
    list.replaceChildren(
      ...captures.map((c, i) => {
        const li = document.createElement('li');
        const img = document.createElement('img');
        img.src = c.url;
        img.alt = `Captured sample ${i + 1}`;
        li.append(img);
        return li;
      }),
    );
    clearBtn.disabled = captures.length === 0;
  }

  function capture(blob) {
    captures.push({ blob, url: URL.createObjectURL(blob) });
    sync();
  }

  function clear() {
    captures.forEach((c) => URL.revokeObjectURL(c.url));
    captures = [];
    sync();
  }

  function drawBox(box, srcW, srcH, ok) {
    const w = overlay.clientWidth;
    const h = overlay.clientHeight;
    overlay.width = w;
    overlay.height = h;
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    if (!box || !srcW) return;
    const s = Math.min(w / srcW, h / srcH);
    ctx.lineWidth = 4;
    ctx.strokeStyle = ok ? '#2ee66b' : '#ffbf00';
    ctx.strokeRect((w - srcW * s) / 2 + box.x * s, (h - srcH * s) / 2 + box.y * s, box.width * s, box.height * s);
  }

  function showChecks(g) {
    for (const c of g.checks) {
      const li = document.querySelector(`#enroll-checks [data-check="${c.name}"]`);
      li.className = c.ok ? 'ok' : 'bad';
      li.querySelector('.check-msg').textContent = c.message;
    }
    body.dataset.quality = g.ok ? 'ok' : 'bad';
    if (auto) guide.textContent = `${GUIDES[captures.length % GUIDES.length]} (${captures.length + 1} of ${target})`;
    else if (g.ok) guide.textContent = 'Good: press “Capture sample” or “Guided capture”';
    else guide.textContent = (g.checks.find((c) => !c.ok) || {}).message || 'Look at the camera';
  }

  /** Frames from this browser's camera. */
  async function browserFrames() {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    video.srcObject = stream;
    await video.play().catch(() => {});
    const grab = document.createElement('canvas');
    return async () => {
      if (!video.videoWidth) return null;
      const scale = Math.min(1, 640 / video.videoWidth);
      grab.width = Math.round(video.videoWidth * scale);
      grab.height = Math.round(video.videoHeight * scale);
      grab.getContext('2d').drawImage(video, 0, 0, grab.width, grab.height);
      const blob = await new Promise((r) => grab.toBlob(r, 'image/jpeg', 0.9));
      return { blob, width: grab.width, height: grab.height };
    };
  }

  /** Frames of the server's camera, from the kiosk's event stream. */
  async function serverFrames() {
    video.hidden = true;
    image.hidden = false;
    let last = null;
    const events = new EventSource('/kiosk/events');
    events.addEventListener('kiosk', (e) => {
      const d = JSON.parse(e.data);
      if (!d.image) {
        guide.textContent = d.view.message + (d.view.detail ? ` (${d.view.detail})` : '');
        return;
      }
      const bytes = Uint8Array.from(atob(d.image), (ch) => ch.charCodeAt(0));
      last = new Blob([bytes], { type: 'image/jpeg' });
      image.src = URL.createObjectURL(last);
      image.addEventListener('load', () => URL.revokeObjectURL(image.src), { once: true });
    });
    return async () => (last ? { blob: last, width: image.naturalWidth, height: image.naturalHeight } : null);
  }

  async function start() {
    if (running) return;
    running = true;
    startBtn.disabled = true;
    let next;
    try {
      next = body.dataset.camera === 'server' ? await serverFrames() : await browserFrames();
    } catch (err) {
      guide.textContent = `Camera not available: ${err.name || 'Error'}: ${err.message}`;
      running = false;
      startBtn.disabled = false;
      return;
    }
    autoBtn.disabled = false;
    for (;;) {
      const f = await next();
      if (!f) {
        await sleep(200);
        continue;
      }
      let g;
      try {
        const res = await fetch('/admin/enroll/check', {
          method: 'POST',
          headers: { 'Content-Type': 'image/jpeg', 'X-CSRF-Token': token, Accept: 'application/json' },
          body: f.blob,
          credentials: 'same-origin',
        });
        g = await res.json();
        if (!res.ok) throw new Error((g.error && g.error.message) || `HTTP ${res.status}`);
      } catch (err) {
        guide.textContent = `Quality check failed: ${err.message}`;
        await sleep(1000);
        continue;
      }
      latest = g.ok ? f.blob : null;
      captureBtn.disabled = !g.ok;
      showChecks(g);
      drawBox(g.box, g.width, g.height, g.ok);
      if (auto && g.ok && performance.now() - lastAuto > 900) {
        capture(f.blob);
        lastAuto = performance.now();
        if (captures.length >= target) {
          auto = false;
          autoBtn.textContent = 'Guided capture';
          guide.textContent = `${captures.length} samples captured: enter the name and press “Enroll”.`;
        }
      }
      await sleep(200);
    }
  }

  startBtn.addEventListener('click', start);
  captureBtn.addEventListener('click', () => latest && capture(latest));
  autoBtn.addEventListener('click', () => {
    auto = !auto;
    lastAuto = performance.now();
    autoBtn.textContent = auto ? 'Stop guided capture' : 'Guided capture';
  });
  clearBtn.addEventListener('click', clear);
  // A successful enrollment (201) starts the next one from scratch.
  document.body.addEventListener('htmx:afterRequest', (e) => {
    if (e.detail.elt && e.detail.elt.id === 'enroll-form' && e.detail.xhr && e.detail.xhr.status === 201) {
      clear();
      e.detail.elt.reset();
    }
  });
})();
