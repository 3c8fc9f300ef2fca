// The per-kiosk-session liveness tracker the door loop feeds, one frame at a time:
//
//   const live = new LivenessSession(settings.liveness);
//   for each frame: const v = live.push(await analyzer.analyzeFace(img, face, Date.now(), { identity }));
//                   show v.promptText when set; grant only if !settings.requireLiveness || v.live.
//
// It keeps the last `bufferMs` of frames and their cues. After `decideAfterMs` with a face and no
// live verdict it asks for a blink; `promptTimeoutMs` later, for a head turn (measured from that
// moment); another `promptTimeoutMs` later it gives up ('attack': not live) until the face goes.
// A live verdict holds for the rest of the session. A face gone for `faceLostMs` starts a new
// session (the next person).
import type { PadSettings } from './config.js';
import { type FrameCue, cueOf, partnerOf } from './cues.js';
import type { FrameObservation } from './frame-analysis.js';
import { type LivenessVerdict, PROMPT_TEXT, type PromptKind, decide, gatherEvidence } from './liveness.js';

export type SessionPhase = 'idle' | 'observing' | 'asked-blink' | 'asked-turn' | 'live' | 'failed';

export class LivenessSession {
  private frames: FrameObservation[] = [];
  private cues: FrameCue[] = [];
  private phase: SessionPhase = 'idle';
  private startedAt = 0;
  private phaseAt = 0;
  private lastFaceAt = -Infinity;
  private liveVerdict: LivenessVerdict | null = null;
  private last: LivenessVerdict | null = null;

  constructor(private readonly settings: PadSettings) {}

  get currentPhase(): SessionPhase {
    return this.phase;
  }

  /** The latest verdict (null before the first frame). */
  get verdict(): LivenessVerdict | null {
    return this.last;
  }

  /** The latest verdict, or the undecided one of a session that has seen nothing yet. */
  peek(): LivenessVerdict {
    return this.last ?? this.idleVerdict();
  }

  /** Forget everything: the next frame with a face starts a new session. */
  reset(): void {
    this.frames = [];
    this.cues = [];
    this.phase = 'idle';
    this.liveVerdict = null;
    this.last = null;
    this.lastFaceAt = -Infinity;
  }

  push(obs: FrameObservation): LivenessVerdict {
    const s = this.settings;
    const tm = s.timing;
    if (obs.face) {
      if (obs.t - this.lastFaceAt > tm.faceLostMs) this.reset();
      this.lastFaceAt = obs.t;
    } else if (obs.t - this.lastFaceAt > tm.faceLostMs) {
      this.reset();
      return (this.last = this.idleVerdict());
    }
    if (this.phase === 'idle') {
      this.phase = 'observing';
      this.startedAt = this.phaseAt = obs.t;
    }
    const cue = cueOf(obs, partnerOf(obs.t, this.frames, s.thresholds.motion.lagMs));
    this.frames.push(obs);
    this.cues.push(cue);
    while (this.frames.length && this.frames[0]!.t < obs.t - tm.bufferMs) {
      this.frames.shift();
      this.cues.shift();
    }
    if (this.liveVerdict) return (this.last = { ...this.liveVerdict, evidence: this.liveVerdict.evidence });
    if (this.phase === 'failed') return this.last!;

    const turnFrom = this.phase === 'asked-turn' ? this.phaseAt : undefined;
    const evidence = gatherEvidence(this.cues, s, { turnFrom });
    const d = decide(evidence, s);
    if (d.live) {
      this.phase = 'live';
      this.liveVerdict = { ...d, state: 'live', prompt: null, promptText: null, evidence };
      return (this.last = this.liveVerdict);
    }
    // Not live (yet). Passive mode never prompts: it decides once decideAfterMs has passed.
    const since = obs.t - this.phaseAt;
    if (s.mode === 'passive') {
      if (obs.t - this.startedAt >= tm.decideAfterMs) this.phase = 'failed';
    } else if (this.phase === 'observing' && obs.t - this.startedAt >= tm.decideAfterMs) {
      this.phase = 'asked-blink';
      this.phaseAt = obs.t;
    } else if (this.phase === 'asked-blink' && since >= tm.promptTimeoutMs) {
      this.phase = 'asked-turn';
      this.phaseAt = obs.t;
    } else if (this.phase === 'asked-turn' && since >= tm.promptTimeoutMs) {
      this.phase = 'failed';
    }
    const prompt: PromptKind | null = this.phase === 'asked-blink' ? 'blink' : this.phase === 'asked-turn' ? 'turn' : null;
    const failed = this.phase === 'failed';
    const reasons = failed ? [...d.reasons, s.mode === 'passive' ? 'passive check failed' : 'no liveness evidence after the prompts'] : d.reasons;
    return (this.last = { ...d, reasons, state: failed ? 'attack' : 'undecided', prompt, promptText: prompt && PROMPT_TEXT[prompt], evidence });
  }

  private idleVerdict(): LivenessVerdict {
    return {
      live: false, score: 0, method: null, reasons: ['no face'], state: 'undecided', prompt: null, promptText: null,
      evidence: { frames: 0, faces: 0, spanMs: 0, blinks: [], motion: { pairs: 0, motion: NaN, residual: NaN, ratio: NaN, score: 0 }, yawChange: NaN, identityMin: null, passive: null },
    };
  }
}
