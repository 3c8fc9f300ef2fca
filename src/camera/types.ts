// What every server-side camera (a V4L2 device, a replayed video) gives the kiosk loop.

/** One camera frame as JPEG bytes: what the FaceService decodes and the page previews. */
export interface Frame {
  jpeg: Uint8Array;
  /** 0, 1, 2, ... in capture order (a replay starts again at 0 when it loops). */
  index: number;
}

export interface FrameSource {
  /** Shown on the kiosk page and in logs: "device /dev/video0", "replay d9.mp4". */
  readonly label: string;
  /** Frames per second the loop should ask for. */
  readonly fps: number;
  /** Fails with a CameraError when the camera is missing or unusable. */
  open(): Promise<void>;
  /** The next frame; a CameraError when none could be had. */
  read(): Promise<Frame>;
  close(): Promise<void>;
}

/** missing: no such camera (or its program); failed: it is there but gave no usable frame. */
export type CameraErrorCode = 'missing' | 'failed';

export class CameraError extends Error {
  override readonly name = 'CameraError';
  constructor(
    readonly code: CameraErrorCode,
    message: string,
  ) {
    super(message);
  }
}
