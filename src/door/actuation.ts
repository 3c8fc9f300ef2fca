// The door's decisions, acted on: each final decision goes to the configured channels (signed
// webhook, MQTT, relay; src/actuation), which open the door for a grant only while the model, the
// gallery and the camera are healthy (fail-secure). The channels follow the settings: changed
// settings rebuild them. The health is pushed every second, so a camera that fails shuts the door
// even while nobody is deciding.
import { DoorActuator, healthAllowsOpening, type ActuationConfig, type ActuationOutcome, type ActuatorStatus, type DoorTestReport, type SystemHealth } from '../actuation/index.js';
import type { Door } from './door.js';

export interface DoorActuationOptions {
  /** The door settings now (settings.door). */
  config: () => ActuationConfig;
  /** What the door depends on, now. */
  health: () => SystemHealth;
  /** Each channel's outcome (sent, failed, dropped, blocked), for the activity log. */
  onOutcome: (o: ActuationOutcome) => void;
  /** Whether a grant must have passed the liveness check to open (settings.liveness.requireLiveness). */
  requireLiveness?: () => boolean;
  healthEveryMs?: number;
}

const configured = (c: ActuationConfig) => [c.webhook, c.mqtt, c.relay].some((x) => x !== undefined && x.enabled);

export class DoorActuation {
  #actuator: DoorActuator | null = null;
  #key = '';
  readonly #unsubscribe: () => void;
  readonly #timer: NodeJS.Timeout;
  #closing: Promise<unknown>[] = [];

  constructor(
    door: Door,
    private readonly opts: DoorActuationOptions,
  ) {
    this.#unsubscribe = door.onDecision((d) => {
      const a = this.#current();
      a?.health(this.opts.health());
      const liveness = d.liveness ? { passed: d.liveness.passed, ...(d.liveness.method ? { method: d.liveness.method } : {}), ...(typeof d.liveness.score === 'number' ? { score: d.liveness.score } : {}) } : undefined;
      a?.onDecision({ time: d.time, door: d.door, decision: d.decision, identity: d.identity, score: d.score, threshold: d.threshold, modelId: d.modelId, ...(liveness ? { liveness } : {}) }, { requireLiveness: this.opts.requireLiveness?.() ?? false });
    });
    this.#timer = setInterval(() => this.#current()?.health(this.opts.health()), opts.healthEveryMs ?? 1000);
    this.#timer.unref();
    this.#current()?.health(this.opts.health());
  }

  /** The channels for the settings now: rebuilt when they change, none when nothing is configured. */
  #current(): DoorActuator | null {
    const config = this.opts.config();
    const key = JSON.stringify(config);
    if (key === this.#key) return this.#actuator;
    if (this.#actuator) this.#closing.push(this.#actuator.close().catch(() => {}));
    this.#key = key;
    this.#actuator = configured(config) ? new DoorActuator(config, { onOutcome: this.opts.onOutcome }) : null;
    this.#actuator?.health(this.opts.health());
    return this.#actuator;
  }

  /** Why a grant would not open the door now, or null (also null when no door is attached). */
  blocked(): string | null {
    if (!this.#current()) return null;
    const v = healthAllowsOpening(this.opts.health());
    return v.open ? null : v.reasons.join('; ');
  }

  /** The channels' state (queue, broker connection, relay, door state), or null with no door attached. */
  status(): ActuatorStatus | null {
    return this.#current()?.status() ?? null;
  }

  /** The "test the door" button (admins only): pulses and sends a test event on every configured channel. */
  async test(door = 'test'): Promise<DoorTestReport | null> {
    const a = this.#current();
    if (!a) return null;
    a.health(this.opts.health());
    return a.test({ door });
  }

  async close(): Promise<void> {
    this.#unsubscribe();
    clearInterval(this.#timer);
    if (this.#actuator) this.#closing.push(this.#actuator.close());
    this.#actuator = null;
    await Promise.all(this.#closing);
  }
}
