// Presentation-attack detection on the attack set built from the talking-head clips (docs/pad.md):
// APCER per attack type and BPCER (ISO/IEC 30107-3), at an operating point chosen on the
// calibration split and reported on the person-disjoint report split; plus the passive models
// alone. `npm run bench -- pad [--fresh] [--rebuild] [--max-apcer 0.05]`
//   --rebuild   re-render the attack set (otherwise reused when its recipe matches)
//   --fresh     re-run the models on every frame (otherwise reused from observations.json)
import { ATTACK_KINDS, type AttackSet, type Split, buildAttackSet, findOnPath } from '../src/pad/attack-set.js';
import { type Calibration, type CueSequence, calibrate } from '../src/pad/calibration.js';
import { CALIBRATED, type PadSettings, PadSettingsSchema } from '../src/pad/config.js';
import { cuesOf } from '../src/pad/cues.js';
import { FrameAnalyzer } from '../src/pad/frame-analysis.js';
import { decide, gatherEvidence } from '../src/pad/liveness.js';
import { MeshLandmarker } from '../src/pad/mesh-landmarks.js';
import { type PadErrorRates, type Rate, auc, padErrorRates } from '../src/pad/metrics.js';
import { observeSet } from '../src/pad/observe-set.js';
import { PassiveModels } from '../src/pad/passive.js';

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const ci = (r: Rate) => `[${(100 * r.ci95[0]).toFixed(1)}, ${(100 * r.ci95[1]).toFixed(1)}]`;

function table(title: string, r: PadErrorRates): string[] {
  const rows = [...ATTACK_KINDS.map((k) => [`APCER ${k}`, r.apcer[k]!] as const), ['BPCER', r.bpcer] as const];
  return [
    title,
    `  ${'metric'.padEnd(14)}${'n'.padStart(4)}${'errors'.padStart(8)}${'rate'.padStart(9)}   95% CI (exact)`,
    ...rows.map(([name, x]) => `  ${name.padEnd(14)}${String(x.total).padStart(4)}${String(x.errors).padStart(8)}${pct(x.rate).padStart(9)}   ${ci(x)}`),
    `  ${'APCER max'.padEnd(14)}${''.padStart(4)}${''.padStart(8)}${pct(r.maxApcer).padStart(9)}`,
  ];
}

function sequences(set: AttackSet, cues: Map<string, CueSequence>, split: Split): CueSequence[] {
  return set.presentations.filter((p) => p.split === split).map((p) => cues.get(p.id)!);
}

function methods(seqs: CueSequence[], s: PadSettings): string {
  const count: Record<string, number> = {};
  for (const q of seqs) {
    const d = decide(gatherEvidence(q.cues, s), s);
    const key = `${q.kind}:${d.method ?? 'none'}`;
    count[key] = (count[key] ?? 0) + 1;
  }
  return Object.entries(count).sort().map(([k, v]) => `${k}=${v}`).join(' ');
}

function drift(c: Calibration): string[] {
  const pairs: [string, number, number][] = [
    ['planarFloor', c.planarFloor, CALIBRATED.planarFloor],
    ['planarSlope', c.planarSlope, CALIBRATED.planarSlope],
    ['motionMinScore', c.motionMinScore, CALIBRATED.motionMinScore],
    ['passiveMinScore', c.passiveMinScore, CALIBRATED.passiveMinScore],
    ['passiveVetoBelow', c.passiveVetoBelow, CALIBRATED.passiveVetoBelow],
  ];
  const off = pairs.filter(([, a, b]) => Math.abs(a - b) > 0.02 * Math.max(Math.abs(b), 1e-9) + 1e-4);
  return off.length
    ? [`NOTE: calibration differs from the defaults in src/pad/config.ts CALIBRATED: ${off.map(([n, a, b]) => `${n} ${a.toPrecision(3)} (default ${b.toPrecision(3)})`).join(', ')}`]
    : ['calibration matches the defaults in src/pad/config.ts CALIBRATED'];
}

export async function run(args: string[]): Promise<void> {
  if (!findOnPath('ffmpeg')) {
    console.log('skipped: ffmpeg is not installed (apt-get install ffmpeg): it extracts the clips\' frames');
    return;
  }
  const maxApcer = Number(arg(args, 'max-apcer', '0.05'));
  const t0 = performance.now();
  const set = await buildAttackSet({ force: args.includes('--rebuild'), log: (l) => console.error(`[pad] ${l}`) });
  const obs = await observeSet(set, async () => new FrameAnalyzer(await MeshLandmarker.load(), await PassiveModels.load()), {
    key: 'mesh2+human-crop+antispoof+liveness',
    reuse: !args.includes('--fresh'),
    log: (l) => console.error(`[pad] ${l}`),
  });
  const base = PadSettingsSchema.parse({});
  const cues = new Map<string, CueSequence>(set.presentations.map((p) => [p.id, { id: p.id, kind: p.kind, cues: cuesOf(obs.get(p.id)!, base.thresholds.motion.lagMs) }]));
  const cal = sequences(set, cues, 'calibration');
  const rep = sequences(set, cues, 'report');
  const { calibration: c, settings } = calibrate(cal, base, maxApcer);

  const count = (seqs: CueSequence[]) => ['bona-fide', ...ATTACK_KINDS].map((k) => `${k} ${seqs.filter((s) => s.kind === k).length}`).join(', ');
  const out: string[] = [];
  out.push(`Presentation-attack detection, attack set v${set.version} (${set.options.frames} frames at ${set.options.fps} fps per presentation; data-prepared/pad, docs/pad.md)`);
  out.push(`  calibration split: ${count(cal)}`);
  out.push(`  report split:      ${count(rep)}  (different people; nothing below was tuned on it)`);
  out.push('');
  out.push(`Operating point, chosen on the calibration split only (lowest BPCER with every attack type's APCER <= ${pct(maxApcer)}):`);
  out.push(`  planar model: residual = ${c.planarFloor.toPrecision(3)} + ${c.planarSlope.toPrecision(3)} x motion (face-size units, lag ${settings.thresholds.motion.lagMs} ms)`);
  out.push(`  active: live on a blink, a head turn >= ${settings.thresholds.headTurnDeg} deg, or motion score >= ${c.motionMinScore.toFixed(3)}`);
  out.push(`  passive: live when mean liveness >= ${c.passiveMinScore.toFixed(3)}; both: active, vetoed below ${c.passiveVetoBelow.toFixed(3)}`);
  out.push(`  ${drift(c).join('')}`);
  out.push('');
  for (const mode of ['active', 'both', 'passive'] as const) {
    const s = PadSettingsSchema.parse({ ...settings, mode });
    for (const [name, seqs] of [['REPORT', rep], ['calibration', cal]] as const) {
      const r = padErrorRates(seqs.map((q) => ({ kind: q.kind, live: decide(gatherEvidence(q.cues, s), s).live })));
      out.push(...table(`mode ${mode}, ${name} split:`, r));
      if (mode !== 'passive') out.push(`  decided by: ${methods(seqs, s)}`);
    }
    out.push('');
  }
  out.push('Passive models alone (mean score over a presentation; AUC = P(bona fide scores above attack), 0.5 = chance):');
  for (const [name, split] of [['report', 'report'], ['calibration', 'calibration']] as const) {
    const ps = set.presentations.filter((p) => p.split === split);
    for (const model of ['antispoof', 'liveness'] as const) {
      const scored = ps.map((p) => {
        const xs = obs.get(p.id)!.filter((o) => o.passive).map((o) => o.passive![model]);
        return { kind: p.kind, score: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length) };
      });
      const bf = scored.filter((x) => x.kind === 'bona-fide').map((x) => x.score);
      const at = scored.filter((x) => x.kind !== 'bona-fide').map((x) => x.score);
      const rng = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
      out.push(`  ${name.padEnd(12)} ${model.padEnd(10)} AUC ${auc(scored).toFixed(3)} (print ${auc(scored, 'print').toFixed(2)}, replay ${auc(scored, 'replay').toFixed(2)}, photo ${auc(scored, 'photo').toFixed(2)}); bona fide ${rng(bf)}, attacks ${rng(at)}`);
    }
  }
  out.push('');
  out.push(`(${((performance.now() - t0) / 1000).toFixed(0)} s; an undecided presentation counts as classified attack: the door would not open)`);
  console.log(out.join('\n'));
}
