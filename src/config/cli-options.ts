// The options every service command shares (--model, --gallery, --config) and their mapping
// onto loadConfig's highest-precedence layer.
import type { Command } from 'commander';
import { loadConfig } from './load.js';
import type { AppConfig } from './schema.js';

export interface ConfigFlags {
  model?: string;
  gallery?: string;
  config?: string;
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir>', 'model folder (default models/facegate-default, or FACEGATE_MODEL_DIR)')
    .option('--gallery <dir>', 'gallery folder (default enrolled/, or FACEGATE_GALLERY_DIR)')
    .option('--config <file>', 'JSON config file (or FACEGATE_CONFIG)');
}

export function configFromFlags(o: ConfigFlags, extra: Record<string, unknown> = {}): AppConfig {
  return loadConfig({ file: o.config, overrides: { modelDir: o.model, galleryDir: o.gallery, ...extra } });
}
