// ExecStartPre of facegate-kiosk.service: waits until the FaceGate server answers (any HTTP
// status means it is up), so Chromium never shows a connection error page at boot.
// Usage: node wait-for-server.mjs URL [seconds]
const [url, seconds = '60'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node wait-for-server.mjs URL [seconds]');
  process.exit(2);
}
const deadline = Date.now() + Number(seconds) * 1000;
for (;;) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    process.exit(0);
  } catch {
    if (Date.now() > deadline) {
      console.error(`facegate server at ${url} did not answer within ${seconds} s`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
