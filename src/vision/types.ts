// Shared shapes of the vision pipeline. Coordinates are image pixels with pixel centres on
// integers (the OpenCV / insightface convention the ArcFace template uses).

/** 8-bit RGB, row-major HWC, no padding: data.length === width * height * 3. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type Point = [number, number];

export interface DetectedFace {
  /** Tight face box (forehead to chin, cheek to cheek). */
  box: Box;
  /** Detector confidence in [0, 1]. */
  score: number;
  /**
   * Five points in ArcFace template order: image-left eye centre, image-right eye centre,
   * nose tip, image-left mouth corner, image-right mouth corner.
   */
  landmarks: Point[];
}

export interface FaceDetector {
  readonly kind: DetectorKind;
  detect(img: RgbImage): Promise<DetectedFace[]>;
  /**
   * Camera loop (optional): the previous frame's faces found again without the box detector;
   * undefined when one was lost. See MeshFaceDetector.track in detector.ts.
   */
  track?(img: RgbImage, previous: readonly DetectedFace[]): Promise<DetectedFace[] | undefined>;
  /** Milliseconds spent in the last detect() or track(): 'detect' (boxes) and 'landmarks' (mesh). */
  readonly lastTimings?: Readonly<Record<string, number>>;
  dispose(): void;
}

export type DetectorKind = 'fast' | 'accurate';
