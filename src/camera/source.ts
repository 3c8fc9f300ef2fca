// The camera setting (settings.camera.source) as a typed choice. The kiosk page's own camera
// (getUserMedia) is the default; a door unit without a screen-side browser camera names a V4L2
// device; demos and tests name a video file or a folder of images to replay.
import { CameraError } from './types.js';

export type CameraChoice =
  | { kind: 'browser' }
  | { kind: 'device'; device: string }
  | { kind: 'replay'; path: string };

// The device path ends up in fswebcam's command line (node-webcam runs it through a shell), so
// only plain V4L2 names are allowed.
const DEVICE = /^\/dev\/(video\d{1,3}|v4l\/by-(id|path)\/[A-Za-z0-9._:-]{1,200})$/;

export const CAMERA_SOURCE_HELP = '"auto" or "browser" (the kiosk page\'s camera), "device" or "device:/dev/videoN" (fswebcam on the server), "replay:/path/to/video.mp4|folder"';

/** Parses the setting; throws a CameraError('failed') naming the accepted forms for anything else. */
export function parseCameraSource(source: string): CameraChoice {
  const s = source.trim();
  if (s === 'auto' || s === 'browser') return { kind: 'browser' };
  if (s === 'device') return { kind: 'device', device: '/dev/video0' };
  if (s.startsWith('device:')) {
    const device = s.slice('device:'.length).trim();
    if (!DEVICE.test(device)) throw new CameraError('failed', `camera device ${JSON.stringify(device)} is not a V4L2 device path like /dev/video0`);
    return { kind: 'device', device };
  }
  if (s.startsWith('replay:')) {
    const path = s.slice('replay:'.length).trim();
    if (!path.startsWith('/')) throw new CameraError('failed', 'a replay source needs an absolute path: replay:/path/to/video.mp4 or a folder of images');
    return { kind: 'replay', path };
  }
  throw new CameraError('failed', `unknown camera source ${JSON.stringify(s)}; use ${CAMERA_SOURCE_HELP}`);
}

export function describeCameraChoice(c: CameraChoice): string {
  return c.kind === 'browser' ? 'the kiosk page\'s camera' : c.kind === 'device' ? `device ${c.device}` : `replay ${c.path}`;
}
