// The kiosk's settings, in settings.json beside the gallery.
export { SettingsStore } from './settings-store.js';
export { MetricSchema, SettingsSchema, type Settings, type SettingsPatch } from './schema.js';
