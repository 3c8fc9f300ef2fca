// What identifies an embedder's architecture; stored in model.json so a model folder rebuilds itself.
import { z } from 'zod';

export const PixelsSchema = z.object({
  channels: z.enum(['RGB', 'BGR']).default('RGB'),
  mean: z.number().default(127.5),
  std: z.number().positive().default(128),
});
export type Pixels = z.infer<typeof PixelsSchema>;

export const VARIANTS = ['efficientfr', 'mobilefacenet'] as const;
export type Variant = (typeof VARIANTS)[number];

export const ModelConfigSchema = z.object({
  variant: z.enum(VARIANTS).default('mobilefacenet'),
  inputSize: z.number().int().min(32).max(448).default(112),
  embeddingSize: z.number().int().min(16).max(2048).default(512),
  /** Channel width multiplier (1 = the published widths). */
  width: z.number().positive().default(1),
  /**
   * Padding of 3x3 convolutions. 'same' is TensorFlow's (a stride-2 layer pads only bottom/right);
   * 'symmetric' pads one pixel on every side, as PyTorch and Paddle do. A network imported from
   * those must keep their padding, or every stride-2 layer sees its input shifted by a pixel.
   */
  padding: z.enum(['same', 'symmetric']).default('same'),
  /** The input convention: channel order and (p - mean) / std. Imported networks bring their own. */
  pixels: PixelsSchema.default({ channels: 'RGB', mean: 127.5, std: 128 }),
});
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export function modelConfig(partial: Partial<ModelConfig> = {}): ModelConfig {
  return ModelConfigSchema.parse(partial);
}
