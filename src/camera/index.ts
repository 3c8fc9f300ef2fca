// Server-side cameras for the kiosk: a V4L2 device (fswebcam), a replayed video or image folder,
// the loop that runs one while a page watches, and the camera setting's parser.
export { CameraError, type CameraErrorCode, type Frame, type FrameSource } from './types.js';
export { DeviceCamera, type DeviceCameraOptions } from './device.js';
export { ReplayCamera, runFfmpeg, type ReplayOptions } from './replay.js';
export { CameraLoop, type CameraLoopOptions, type LoopEvent } from './loop.js';
export { CAMERA_SOURCE_HELP, describeCameraChoice, parseCameraSource, type CameraChoice } from './source.js';
