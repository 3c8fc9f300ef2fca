// The MQTT channel (mqtt.js does the protocol, reconnection and resubscription): decisions at
// QoS 1, health retained so a dashboard connecting later sees it, a last will that marks the kiosk
// offline if it dies, and the door controller's state from a subscribed topic.
import { connect, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { MqttConfig } from './config.js';
import { parseDoorState } from './door-state.js';
import type { Report } from './report.js';
import type { ActuationOutcome, DoorState } from './types.js';

export interface MqttPublish {
  status: 'ok' | 'failed' | 'dropped';
  detail: string;
}

export type DoorStateListener = (state: DoorState, previous: DoorState) => void;

const OFFLINE = JSON.stringify({ type: 'health', online: false });

export class MqttChannel {
  private readonly client: MqttClient;
  private state: DoorState = 'unknown';
  private readonly listeners = new Set<DoorStateListener>();
  /** The last health payload, re-published on every (re)connect: retained state must survive a broker restart. */
  private health: string | null = null;
  private lastError: string | null = null;
  private readonly subscribed: Promise<void>;

  constructor(
    private readonly cfg: MqttConfig,
    private readonly report: Report,
  ) {
    this.client = connect(cfg.url, {
      clientId: cfg.clientId,
      ...(cfg.username !== undefined && { username: cfg.username }),
      ...(cfg.password !== undefined && { password: cfg.password }),
      protocolVersion: cfg.protocolVersion,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      // Nothing is queued while offline (see publishDecision); mqtt.js would otherwise send it on reconnect.
      queueQoSZero: false,
      will: { topic: cfg.topics.health, payload: Buffer.from(OFFLINE), qos: 1, retain: true },
    });
    let subscribed!: () => void;
    this.subscribed = new Promise((resolve) => (subscribed = resolve));
    this.client.on('connect', () => {
      this.lastError = null;
      if (this.health !== null) void this.publishHealthNow();
      const topic = cfg.topics.doorState;
      if (topic === null) return subscribed();
      this.client.subscribeAsync(topic, { qos: 1 }).then(
        (grants) => {
          // 128: the broker refused the subscription (its ACL, usually).
          if (grants.some((g) => g.qos === 128)) this.lastError = `subscription to ${topic} refused by the broker`;
          else subscribed();
        },
        (err: Error) => (this.lastError = `subscribe ${topic}: ${err.message}`),
      );
    });
    // Only the door-state topic is subscribed, so every message is the door's state.
    this.client.on('message', (_topic, payload) => this.setDoorState(parseDoorState(payload)));
    // Disconnected, the door's state is not known any more; the retained state returns on resubscribe.
    this.client.on('close', () => this.setDoorState('unknown'));
    this.client.on('error', (err) => (this.lastError = err.message));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get error(): string | null {
    return this.lastError;
  }

  get doorState(): DoorState {
    return this.state;
  }

  onDoorState(listener: DoorStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Connected and subscribed to the door state. */
  ready(): Promise<void> {
    return this.subscribed;
  }

  /**
   * Publishes one decision (or test) event at QoS 1; resolves once the broker acknowledged it.
   * Offline it is dropped, not queued: mqtt.js would deliver a queued "open" on reconnect,
   * however late. An "open" also carries an MQTT 5 expiry, so the broker will not hand it to a
   * subscriber that shows up after maxAgeMs.
   */
  async publishDecision(id: string, event: ActuationOutcome['event'], body: string, opens: boolean): Promise<MqttPublish> {
    const topic = this.cfg.topics.decisions;
    const out = (status: MqttPublish['status'], detail: string): MqttPublish => {
      this.report({ channel: 'mqtt', event, eventId: id, status, detail });
      return { status, detail };
    };
    if (!this.client.connected) return out('dropped', `mqtt: not connected to the broker${this.lastError ? ` (${this.lastError})` : ''}; not queued`);
    const opts: IClientPublishOptions = { qos: 1, retain: false };
    if (opens && this.cfg.protocolVersion === 5) opts.properties = { messageExpiryInterval: Math.ceil(this.cfg.maxAgeMs / 1000) };
    try {
      await withTimeout(this.client.publishAsync(topic, body, opts), this.cfg.maxAgeMs);
      return out('ok', `mqtt: published to ${topic}`);
    } catch (err) {
      return out('failed', `mqtt: publish to ${topic}: ${(err as Error).message}`);
    }
  }

  /** Health is state, not an event: retained, and published again after a reconnect. */
  publishHealth(payload: string): void {
    if (payload === this.health) return;
    this.health = payload;
    if (this.client.connected) void this.publishHealthNow();
  }

  private async publishHealthNow(): Promise<void> {
    const body = this.health!;
    try {
      await this.client.publishAsync(this.cfg.topics.health, body, { qos: 1, retain: true });
    } catch (err) {
      this.lastError = `publish health: ${(err as Error).message}`;
    }
  }

  /** Marks the kiosk offline (retained, as the last will would), then disconnects. */
  async close(): Promise<void> {
    if (this.client.connected) {
      await withTimeout(this.client.publishAsync(this.cfg.topics.health, OFFLINE, { qos: 1, retain: true }), 2000).catch(() => undefined);
      await this.client.endAsync();
    } else {
      await this.client.endAsync(true);
    }
    this.listeners.clear();
  }

  private setDoorState(next: DoorState): void {
    const previous = this.state;
    if (next === previous) return;
    this.state = next;
    for (const l of this.listeners) {
      try {
        l(next, previous);
      } catch (err) {
        console.error(`[facegate] door state listener: ${(err as Error).message}`);
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no acknowledgement within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
