// Door actuation settings: a signed webhook, an MQTT client and a local relay command. Every
// channel is absent (off) unless configured, so a kiosk without a door attached behaves as before.
// Strict like the app config: a misspelt key is an error, not a silently ignored setting.
import { z } from 'zod';

export const WebhookConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  url: z.url({ protocol: /^https?$/, error: 'webhook.url must be an http(s) URL' }),
  /** HMAC-SHA256 key shared with the receiver; long enough that it cannot be guessed. */
  secret: z.string().min(16, 'webhook.secret must be at least 16 characters'),
  /** Per attempt. */
  timeoutMs: z.int().min(100).max(60_000).default(3000),
  /** Attempts after the first one. */
  retries: z.int().min(0).max(10).default(3),
  /** Delay before the first retry; doubled for each further one. */
  backoffMs: z.int().min(10).max(60_000).default(250),
  /** Events waiting behind the one in flight; beyond it the oldest waiting event is dropped. */
  queueMax: z.int().min(1).max(1000).default(20),
  /**
   * An "open" older than this is dropped rather than delivered: a door that opens seconds after
   * the person walked away lets the next one in.
   */
  maxAgeMs: z.int().min(100).max(600_000).default(5000),
});

export const MqttConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  url: z.url({ protocol: /^(mqtts?|wss?|tcp|ssl)$/, error: 'mqtt.url must be an mqtt://, mqtts://, ws:// or wss:// URL' }),
  clientId: z.string().min(1).max(128).default('facegate'),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** 5 lets the broker expire an undelivered "open"; 4 (3.1.1) for brokers that lack it. */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  topics: z
    .strictObject({
      decisions: z.string().min(1).default('facegate/door/decisions'),
      /** Retained, so a dashboard that connects later sees the current state. */
      health: z.string().min(1).default('facegate/door/health'),
      /** Published by the door controller: "open", "closed", or {"state": "open"}. Null: not subscribed. */
      doorState: z.string().min(1).nullable().default('facegate/door/state'),
    })
    .prefault({}),
  /** Same rule as the webhook's: an "open" not yet delivered after this expires at the broker (MQTT 5). */
  maxAgeMs: z.int().min(1000).max(600_000).default(5000),
});

export const RelayConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /**
     * Program and arguments, run without a shell (no quoting, no $VARS, no globbing). The pulse
     * time reaches it as the environment variable FACEGATE_PULSE_MS.
     */
    command: z.array(z.string().min(1)).min(1, 'relay.command must name a program'),
    pulseMs: z.int().min(50).max(60_000).default(1000),
    /** Killed after this; must leave room for the pulse itself. */
    timeoutMs: z.int().min(100).max(120_000).default(10_000),
  })
  .refine((r) => r.timeoutMs > r.pulseMs, 'relay.timeoutMs must be longer than relay.pulseMs');

export const ActuationConfigSchema = z
  .strictObject({
    webhook: WebhookConfigSchema.optional(),
    mqtt: MqttConfigSchema.optional(),
    relay: RelayConfigSchema.optional(),
  })
  .prefault({});

export type ActuationConfig = z.output<typeof ActuationConfigSchema>;
export type ActuationConfigInput = z.input<typeof ActuationConfigSchema>;
export type WebhookConfig = z.output<typeof WebhookConfigSchema>;
export type MqttConfig = z.output<typeof MqttConfigSchema>;
export type RelayConfig = z.output<typeof RelayConfigSchema>;
