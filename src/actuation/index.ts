// Door actuation (issue 20, part 1): webhook, MQTT and relay channels behind one DoorActuator,
// with fail-secure. See docs/door-actuation.md.
export { ActuationConfigSchema, MqttConfigSchema, RelayConfigSchema, WebhookConfigSchema } from './config.js';
export type { ActuationConfig, ActuationConfigInput, MqttConfig, RelayConfig, WebhookConfig } from './config.js';
export { DoorActuator } from './door-actuator.js';
export type { ActuatorStatus, ChannelTest, DecisionResult, DoorActuatorOptions, DoorTestReport } from './door-actuator.js';
export { parseDoorState } from './door-state.js';
export { decisionOpensDoor, healthAllowsOpening } from './fail-secure.js';
export type { OpenVerdict } from './fail-secure.js';
export type { DoorEvent, HealthEvent } from './payload.js';
export { EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhookSignature } from './signature.js';
export type { VerifyResult } from './signature.js';
export type * from './types.js';
