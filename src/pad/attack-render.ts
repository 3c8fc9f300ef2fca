// Image operations that turn a still photo into presentation-attack frames: the photo as a print
// or on a phone screen, held in front of the camera on a plane that the hand moves, plus the
// camera's own noise. Plain JS on RgbImage (a 480x480 frame is 230k pixels); sharp does the
// blurs and the JPEG round trip.
import sharp from 'sharp';
import type { RgbImage } from '../vision/types.js';
import { type Homography, applyH, invertH } from './homography.js';
import type { Rng } from './rng.js';

export async function toRaw(input: Buffer | string): Promise<RgbImage> {
  const { data, info } = await sharp(input).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

const sharpOf = (img: RgbImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

/** The image through a camera's JPEG encoder and back (q 85: a webcam's MJPEG). */
export async function jpegRoundTrip(img: RgbImage, quality = 85): Promise<{ jpeg: Buffer; image: RgbImage }> {
  const jpeg = await sharpOf(img).jpeg({ quality, chromaSubsampling: '4:2:0' }).toBuffer();
  return { jpeg, image: await toRaw(jpeg) };
}

export async function blur(img: RgbImage, sigma: number): Promise<RgbImage> {
  if (sigma < 0.3) return img;
  const { data, info } = await sharpOf(img).blur(sigma).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

export async function resize(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharpOf(img).resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** A plain room behind the attacker's hand: a lit wall gradient and a few soft shapes, blurred. */
export async function background(width: number, height: number, rng: Rng): Promise<RgbImage> {
  const data = new Uint8Array(width * height * 3);
  const base = [rng.uniform(60, 200), rng.uniform(60, 200), rng.uniform(60, 200)];
  const grad = [rng.uniform(-60, 60), rng.uniform(-60, 60), rng.uniform(-60, 60)];
  const shapes = Array.from({ length: 4 }, () => ({
    x0: rng.uniform(0, width), y0: rng.uniform(0, height), w: rng.uniform(0.1, 0.5) * width, h: rng.uniform(0.1, 0.6) * height,
    c: [rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)],
  }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      let c = base.map((b, k) => b + grad[k]! * (y / height - 0.5));
      for (const s of shapes) if (x >= s.x0 && x < s.x0 + s.w && y >= s.y0 && y < s.y0 + s.h) c = s.c;
      data[o] = clamp255(c[0]!);
      data[o + 1] = clamp255(c[1]!);
      data[o + 2] = clamp255(c[2]!);
    }
  }
  return blur({ data, width, height }, 6);
}

/**
 * A photographic print: lower contrast and a warm paper white, slight ink spread (blur), fixed
 * paper grain, and a white border of `border` x the shorter side.
 */
export async function asPrint(photo: RgbImage, rng: Rng, border = 0.04): Promise<RgbImage> {
  const soft = await blur(photo, rng.uniform(0.5, 0.9));
  const b = Math.round(border * Math.min(photo.width, photo.height));
  const W = photo.width + 2 * b, H = photo.height + 2 * b;
  const out = new Uint8Array(W * H * 3);
  const paper = [rng.uniform(238, 250), rng.uniform(234, 246), rng.uniform(222, 236)];
  const contrast = rng.uniform(0.78, 0.9), lift = rng.uniform(12, 28);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const grain = rng.normal() * 3;
      const inside = x >= b && y >= b && x < W - b && y < H - b;
      for (let k = 0; k < 3; k++) {
        const v = inside ? lift + contrast * soft.data[((y - b) * photo.width + (x - b)) * 3 + k]! * (paper[k]! / 255) : paper[k]!;
        out[o + k] = clamp255(v + grain);
      }
    }
  }
  return { data: out, width: W, height: H };
}

/**
 * The photo on a phone or tablet screen: emissive (brighter, bluish white point), the moire of
 * the screen's pixel grid beating with the camera's (two close gratings at a small angle), and a
 * black bezel of `bezel` x the shorter side.
 */
export async function asScreen(photo: RgbImage, rng: Rng, bezel = 0.05): Promise<RgbImage> {
  const b = Math.round(bezel * Math.min(photo.width, photo.height));
  const W = photo.width + 2 * b, H = photo.height + 2 * b;
  const out = new Uint8Array(W * H * 3);
  const gain = rng.uniform(1.05, 1.2), gamma = rng.uniform(0.8, 0.92);
  const tint = [rng.uniform(0.9, 0.97), rng.uniform(0.97, 1.0), 1.0];
  // Moire: product of two gratings with periods near 3 px whose angle differs by a few degrees;
  // their beat is a fringe pattern with a period of tens of pixels.
  const f = 1 / rng.uniform(2.8, 3.4), a1 = rng.uniform(0, Math.PI), da = rng.uniform(0.04, 0.09) * rng.sign();
  const k1 = [f * Math.cos(a1), f * Math.sin(a1)], k2 = [f * 1.03 * Math.cos(a1 + da), f * 1.03 * Math.sin(a1 + da)];
  const depth = rng.uniform(0.12, 0.22);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      if (x < b || y < b || x >= W - b || y >= H - b) {
        out[o] = out[o + 1] = out[o + 2] = 12;
        continue;
      }
      const g1 = 0.5 + 0.5 * Math.cos(2 * Math.PI * (k1[0]! * x + k1[1]! * y));
      const g2 = 0.5 + 0.5 * Math.cos(2 * Math.PI * (k2[0]! * x + k2[1]! * y));
      const m = 1 - depth + depth * 2 * g1 * g2;
      const i = ((y - b) * photo.width + (x - b)) * 3;
      for (let k = 0; k < 3; k++) {
        const v = 255 * Math.pow(photo.data[i + k]! / 255, gamma) * gain * tint[k]!;
        out[o + k] = clamp255(v * m);
      }
    }
  }
  // The camera's lens low-passes the grating itself and leaves the beat.
  return blur({ data: out, width: W, height: H }, 0.8);
}

/** Where the hand holds the plane in one frame. Angles in radians; shifts in frame pixels. */
export interface PlanePose {
  tx: number;
  ty: number;
  /** Photo pixel -> frame pixel scale at the plane's centre. */
  scale: number;
  roll: number;
  yaw: number;
  pitch: number;
}

/**
 * Homography from photo pixels to frame pixels for a flat photo of size pw x ph, centred in a
 * fw x fh frame (plus the pose's shift), rotated in 3-D and seen by a pinhole camera whose focal
 * length is `focal` x the frame width.
 */
export function planeHomography(pose: PlanePose, pw: number, ph: number, fw: number, fh: number, focal = 1.2): Homography {
  const F = focal * fw;
  const [cr, sr] = [Math.cos(pose.roll), Math.sin(pose.roll)];
  const [cy, sy] = [Math.cos(pose.yaw), Math.sin(pose.yaw)];
  const [cp, sp] = [Math.cos(pose.pitch), Math.sin(pose.pitch)];
  // R = Ry(yaw) * Rx(pitch) * Rz(roll); only its first two columns act on the plane z = 0.
  const rz = [[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]];
  const rx = [[1, 0, 0], [0, cp, -sp], [0, sp, cp]];
  const ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]];
  const mul = (a: number[][], b: number[][]) => a.map((r) => [0, 1, 2].map((c) => r[0]! * b[0]![c]! + r[1]! * b[1]![c]! + r[2]! * b[2]![c]!));
  const R = mul(ry, mul(rx, rz));
  const s = pose.scale;
  // Plane point (u - pw/2, v - ph/2, 0) * s, then R, then at depth F (so scale s holds at the centre).
  const cxp = pw / 2, cyp = ph / 2, cxf = fw / 2 + pose.tx, cyf = fh / 2 + pose.ty;
  // Camera coords: X = s*(R00 u' + R01 v'), Y = s*(R10 u' + R11 v'), Z = F + s*(R20 u' + R21 v').
  // Image: x = cxf + F X / Z, y = cyf + F Y / Z.
  const a = s * R[0]![0]!, b = s * R[0]![1]!, c = s * R[1]![0]!, d = s * R[1]![1]!, e = (s * R[2]![0]!) / F, f = (s * R[2]![1]!) / F;
  // In terms of u' = u - cxp, v' = v - cyp: x = (cxf (e u' + f v' + 1) + a u' + b v') / (e u' + f v' + 1).
  const Hp: Homography = [a + cxf * e, b + cxf * f, cxf, c + cyf * e, d + cyf * f, cyf, e, f, 1];
  // Compose with the shift u' = u - cxp.
  const T: Homography = [1, 0, -cxp, 0, 1, -cyp, 0, 0, 1];
  const out = new Array<number>(9);
  for (let r = 0; r < 3; r++) for (let k = 0; k < 3; k++) out[r * 3 + k] = Hp[r * 3]! * T[k]! + Hp[r * 3 + 1]! * T[3 + k]! + Hp[r * 3 + 2]! * T[6 + k]!;
  return out as Homography;
}

/** `bg` with `photo` drawn through `photoToFrame` (bilinear; pixels off the photo keep `bg`). */
export function composite(bg: RgbImage, photo: RgbImage, photoToFrame: Homography): RgbImage {
  const { width: W, height: H } = bg;
  const out = new Uint8Array(bg.data);
  const inv = invertH(photoToFrame);
  const pw = photo.width, ph = photo.height, src = photo.data;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [u, v] = applyH(inv, x, y);
      if (!(u > -0.5 && v > -0.5 && u < pw - 0.5 && v < ph - 0.5)) continue;
      const x0 = Math.max(0, Math.min(pw - 2, Math.floor(u))), y0 = Math.max(0, Math.min(ph - 2, Math.floor(v)));
      const fx = Math.min(1, Math.max(0, u - x0)), fy = Math.min(1, Math.max(0, v - y0));
      const p = (y0 * pw + x0) * 3, q = p + pw * 3, o = (y * W + x) * 3;
      // Anti-aliased edge: blend the outermost half pixel with the background.
      const edge = Math.min(1, u + 0.5, v + 0.5, pw - 0.5 - u, ph - 0.5 - v);
      for (let k = 0; k < 3; k++) {
        const val = (1 - fx) * (1 - fy) * src[p + k]! + fx * (1 - fy) * src[p + 3 + k]! + (1 - fx) * fy * src[q + k]! + fx * fy * src[q + 3 + k]!;
        out[o + k] = clamp255(edge * val + (1 - edge) * out[o + k]! + 0.5);
      }
    }
  }
  return { data: out, width: W, height: H };
}

/**
 * Specular glare of a lamp on a glossy screen: a soft bright ellipse at (cx, cy) in frame pixels,
 * added only where `mask` (the screen area, via its homography) lies, plus a faint veil.
 */
export function addGlare(frame: RgbImage, screenToFrame: Homography, sw: number, sh: number, g: { cx: number; cy: number; rx: number; ry: number; angle: number; peak: number; veil: number }): RgbImage {
  const { width: W, height: H } = frame;
  const out = new Uint8Array(frame.data);
  const inv = invertH(screenToFrame);
  const ca = Math.cos(g.angle), sa = Math.sin(g.angle);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [u, v] = applyH(inv, x, y);
      if (!(u >= 0 && v >= 0 && u < sw && v < sh)) continue;
      const dx = x - g.cx, dy = y - g.cy;
      const a = (ca * dx + sa * dy) / g.rx, b = (-sa * dx + ca * dy) / g.ry;
      const add = g.peak * Math.exp(-0.5 * (a * a + b * b)) + g.veil;
      const o = (y * W + x) * 3;
      for (let k = 0; k < 3; k++) {
        const v0 = out[o + k]!;
        // Light adds to what the screen emits; saturates like a sensor does.
        out[o + k] = clamp255(v0 + add * (1 - v0 / 320));
      }
    }
  }
  return { data: out, width: W, height: H };
}

/** Global exposure change and fresh per-pixel sensor noise (sigma in 8-bit levels). */
export function cameraNoise(frame: RgbImage, rng: Rng, sigma: number, gain = 1): RgbImage {
  const out = new Uint8Array(frame.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clamp255(frame.data[i]! * gain + rng.normal() * sigma + 0.5);
  return { data: out, width: frame.width, height: frame.height };
}
