// How a hand moves a held photo or phone over a presentation: slow sways in position, size and
// tilt (sums of sinusoids with random phases) plus tremor (a small random walk). Deterministic
// for a given generator.
import type { PlanePose } from './attack-render.js';
import type { Rng } from './rng.js';

export interface SwayLimits {
  /** Peak shift as a fraction of the frame width / height. */
  shift: [number, number];
  /** Peak relative change of scale. */
  scale: number;
  /** Peak angles in degrees. */
  rollDeg: number;
  yawDeg: number;
  pitchDeg: number;
  /** Tremor: random-walk step in frame pixels and degrees per frame. */
  tremorPx: number;
  tremorDeg: number;
}

export const PRINT_SWAY: SwayLimits = { shift: [0.08, 0.06], scale: 0.1, rollDeg: 8, yawDeg: 22, pitchDeg: 18, tremorPx: 0.6, tremorDeg: 0.15 };
export const SCREEN_SWAY: SwayLimits = { shift: [0.06, 0.05], scale: 0.08, rollDeg: 6, yawDeg: 18, pitchDeg: 15, tremorPx: 0.5, tremorDeg: 0.12 };

const rad = (d: number) => (d * Math.PI) / 180;

/**
 * `n` poses at `fps` for a plane of base scale `scale`, in a frame of fw x fh. Each component is
 * a random fraction (30-100 %) of its limit, swaying at 0.25-0.9 Hz.
 */
export function swayTrajectory(rng: Rng, n: number, fps: number, fw: number, fh: number, scale: number, lim: SwayLimits): PlanePose[] {
  const comp = (peak: number) => {
    const amp = peak * rng.uniform(0.3, 1);
    const f = rng.uniform(0.25, 0.9), ph = rng.uniform(0, 2 * Math.PI);
    return (t: number) => amp * Math.sin(2 * Math.PI * f * t + ph);
  };
  const tx = comp(lim.shift[0] * fw), ty = comp(lim.shift[1] * fh), sc = comp(lim.scale);
  const roll = comp(rad(lim.rollDeg)), yaw = comp(rad(lim.yawDeg)), pitch = comp(rad(lim.pitchDeg));
  const walk = { x: 0, y: 0, r: 0 };
  const out: PlanePose[] = [];
  for (let i = 0; i < n; i++) {
    const t = i / fps;
    walk.x += rng.normal() * lim.tremorPx;
    walk.y += rng.normal() * lim.tremorPx;
    walk.r += rng.normal() * rad(lim.tremorDeg);
    out.push({ tx: tx(t) + walk.x, ty: ty(t) + walk.y, scale: scale * (1 + sc(t)), roll: roll(t) + walk.r, yaw: yaw(t), pitch: pitch(t) });
  }
  return out;
}

/** A plane that does not move: the photo propped up or held against the lens. */
export function staticTrajectory(rng: Rng, n: number, scale: number): PlanePose[] {
  const pose: PlanePose = { tx: 0, ty: 0, scale, roll: rad(rng.uniform(-3, 3)), yaw: rad(rng.uniform(-5, 5)), pitch: rad(rng.uniform(-5, 5)) };
  return Array.from({ length: n }, () => ({ ...pose }));
}
