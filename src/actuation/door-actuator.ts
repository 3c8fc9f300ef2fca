// The door's actuation: one object the door calls with each decision, that applies fail-secure
// and fans the decision out to the configured channels (webhook, MQTT, relay). Nothing here
// blocks the door: onDecision returns at once with whether the door opens; deliveries run in the
// background and report each outcome through onOutcome (for the activity log).
import { randomUUID } from 'node:crypto';
import type { ActuationConfig } from './config.js';
import { decisionOpensDoor, healthAllowsOpening, type OpenPolicy, type OpenVerdict } from './fail-secure.js';
import { MqttChannel, type DoorStateListener } from './mqtt-channel.js';
import { decisionEvent, healthEvent, type DoorEvent } from './payload.js';
import { RelayHook } from './relay.js';
import { reporter, type Report } from './report.js';
import type { DoorDecision, DoorState, OutcomeListener, SystemHealth } from './types.js';
import { WebhookSender } from './webhook.js';

export interface DoorActuatorOptions {
  /** Every delivery outcome (ok, retrying, failed, dropped, expired, blocked), for the activity log. */
  onOutcome?: OutcomeListener;
}

export interface DecisionResult extends OpenVerdict {
  /** The id in the webhook/MQTT payload and in every outcome of this decision. */
  eventId: string;
  /** Settles when every channel has its final outcome (tests, shutdown); never rejects. */
  delivered: Promise<void>;
}

export type ChannelTest = { status: 'disabled' } | { status: 'ok' | 'failed' | 'dropped' | 'expired'; detail: string };

export interface DoorTestReport {
  eventId: string;
  webhook: ChannelTest;
  mqtt: ChannelTest;
  relay: ChannelTest;
  /** Whether a real grant would open the door now; the test itself opens regardless (see test()). */
  health: OpenVerdict;
  doorState: DoorState;
}

export interface ActuatorStatus {
  webhook: { queued: number } | null;
  mqtt: { connected: boolean; error: string | null } | null;
  relay: { busy: boolean } | null;
  health: OpenVerdict;
  doorState: DoorState;
}

export class DoorActuator {
  private readonly report: Report;
  private readonly webhook: WebhookSender | null;
  private readonly mqtt: MqttChannel | null;
  private readonly relay: RelayHook | null;
  /** null until the first health() call: fail-secure treats "not reported" as "not healthy". */
  private systemHealth: SystemHealth | null = null;
  private lastHealthKey = '';
  private closed: Promise<void> | null = null;

  /** config: parsed with ActuationConfigSchema. Channels that are absent or disabled are not created. */
  constructor(config: ActuationConfig, opts: DoorActuatorOptions = {}) {
    this.report = reporter(opts.onOutcome);
    const on = <T extends { enabled: boolean }>(c: T | undefined): c is T => c !== undefined && c.enabled;
    this.webhook = on(config.webhook) ? new WebhookSender(config.webhook, this.report) : null;
    this.mqtt = on(config.mqtt) ? new MqttChannel(config.mqtt, this.report) : null;
    this.relay = on(config.relay) ? new RelayHook(config.relay, this.report) : null;
  }

  /**
   * One decision at the door. A grant opens (webhook "open", relay pulse) only when fail-secure
   * allows it; a grant it refuses is published as "denied" with the reasons. Every decision goes to
   * MQTT. Returns at once; the result says whether the door opens, and if not, why.
   */
  onDecision(d: DoorDecision, policy: OpenPolicy = {}): DecisionResult {
    const eventId = randomUUID();
    const verdict = decisionOpensDoor(d, this.systemHealth, policy);
    if (d.decision === 'granted' && !verdict.open) {
      this.report({ channel: 'fail-secure', event: 'open', eventId, status: 'blocked', detail: `door kept shut: ${verdict.reasons.join('; ')}` });
    }
    if (this.closed) return { open: false, reasons: [...verdict.reasons, 'actuation is closed'], eventId, delivered: Promise.resolve() };
    const body = JSON.stringify(decisionEvent(eventId, d, verdict));
    const work: Promise<unknown>[] = [];
    if (verdict.open) {
      if (this.relay) work.push(this.relay.pulse(eventId, 'open', d.door));
      if (this.webhook) work.push(this.webhook.send(eventId, 'open', body));
    }
    if (this.mqtt) work.push(this.mqtt.publishDecision(eventId, verdict.open ? 'open' : 'decision', body, verdict.open));
    return { ...verdict, eventId, delivered: Promise.all(work).then(() => undefined) };
  }

  /** The state of what the door depends on; call on every change (and at start). Published retained on MQTT. */
  health(h: SystemHealth): OpenVerdict {
    this.systemHealth = structuredClone(h);
    const verdict = healthAllowsOpening(this.systemHealth);
    const key = JSON.stringify([h, verdict]);
    if (key !== this.lastHealthKey) {
      this.lastHealthKey = key;
      this.mqtt?.publishHealth(JSON.stringify(healthEvent(h, verdict)));
    }
    return verdict;
  }

  /** Whether a grant would open the door now, and if not, why (for the door screen). */
  mayOpen(): OpenVerdict {
    return healthAllowsOpening(this.systemHealth);
  }

  /** The door controller's last reported state (MQTT door-state topic); unknown without one. */
  get doorState(): DoorState {
    return this.mqtt?.doorState ?? 'unknown';
  }

  /** Calls listener on every door-state change; returns the unsubscribe function. */
  onDoorState(listener: DoorStateListener): () => void {
    return this.mqtt?.onDoorState(listener) ?? (() => undefined);
  }

  status(): ActuatorStatus {
    return {
      webhook: this.webhook && { queued: this.webhook.queued },
      mqtt: this.mqtt && { connected: this.mqtt.connected, error: this.mqtt.error },
      relay: this.relay && { busy: this.relay.busy },
      health: this.mayOpen(),
      doorState: this.doorState,
    };
  }

  /** Resolves once MQTT is connected and subscribed to the door state (at once without MQTT); rejects after timeoutMs. */
  async ready(timeoutMs = 10_000): Promise<void> {
    if (!this.mqtt) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`MQTT not ready within ${timeoutMs} ms${this.mqtt?.error ? `: ${this.mqtt.error}` : ''}`)), timeoutMs);
    });
    await Promise.race([this.mqtt.ready(), timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * The "test the door" button: pulses the relay, sends a signed test event ("type": "test",
   * "open": true) by webhook (one attempt, no queue, so the answer comes at once) and publishes it
   * on MQTT. It opens the door on purpose, even when fail-secure would refuse a grant: it is an
   * admin's deliberate act, the way an installer checks the wiring before the camera works.
   * Expose it to admins only.
   */
  async test(opts: { door?: string } = {}): Promise<DoorTestReport> {
    const eventId = randomUUID();
    const door = opts.door ?? 'test';
    const event: DoorEvent = { id: eventId, type: 'test', time: new Date().toISOString(), door, open: true };
    const body = JSON.stringify(event);
    const disabled: ChannelTest = { status: 'disabled' };
    const pick = ({ status, detail }: { status: Exclude<ChannelTest['status'], 'disabled'>; detail: string }): ChannelTest => ({ status, detail });
    const [relay, webhook, mqtt] = await Promise.all([
      this.relay ? this.relay.pulse(eventId, 'test', door).then(pick) : disabled,
      this.webhook ? this.webhook.sendNow(eventId, 'test', body).then(pick) : disabled,
      this.mqtt ? this.mqtt.publishDecision(eventId, 'test', body, true).then(pick) : disabled,
    ]);
    return { eventId, webhook, mqtt, relay, health: this.mayOpen(), doorState: this.doorState };
  }

  /** Drops queued webhooks, lets a running relay pulse finish, marks the kiosk offline on MQTT. Idempotent. */
  close(): Promise<void> {
    this.closed ??= Promise.all([this.webhook?.close(), this.relay?.close(), this.mqtt?.close()]).then(() => undefined);
    return this.closed;
  }
}
