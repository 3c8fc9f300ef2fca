// What identifies an embedder's architecture; stored in model.json so a model folder rebuilds itself.
import { z } from 'zod';

export const VARIANTS = ['efficientfr', 'mobilefacenet'] as const;
export type Variant = (typeof VARIANTS)[number];

export const ModelConfigSchema = z.object({
  variant: z.enum(VARIANTS).default('mobilefacenet'),
  inputSize: z.number().int().min(32).max(448).default(112),
  embeddingSize: z.number().int().min(16).max(2048).default(512),
  /** Channel width multiplier (1 = the published widths). */
  width: z.number().positive().default(1),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export function modelConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfigSchema.parse(partial);
}

/**
 * Pixel normalisation shared by training and inference: ArcFace's (x - 127.5) / 128,
 * mapping uint8 RGB into roughly [-1, 1].
 */
export const NORMALIZATION = { mean: 127.5, std: 128 } as const;
