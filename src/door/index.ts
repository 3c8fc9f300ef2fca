// The door: where a frame becomes a decision (door.ts), the rules it must pass (gate.ts), the
// kiosk's k-of-n verdict (kofn-judge.ts, kiosk-station.ts), the server camera (camera-hub.ts)
// and the record of each decision (decision-log.ts).
export { Door, type ActiveModel, type DecisionListener, type DoorDeps, type FaceCheck, type FrameAnalysis, type KioskFrame, type ScreenImage } from './door.js';
export { gate, refusalMessage, type Gate } from './gate.js';
export { DecisionLog, type DecisionRecord } from './decision-log.js';
export { KofNJudge, type JudgeOptions, type KofN, type Observation, type Verdict } from './kofn-judge.js';
export { KioskStation, KioskStations, DEFAULT_JUDGE, type KioskView, type KioskStateName, type StationOptions } from './kiosk-station.js';
export { CameraHub, type CameraState } from './camera-hub.js';
export { DoorActuation } from './actuation.js';
export { DoorSite, type DoorSiteOptions } from './door-site.js';
export * from './types.js';
