// Every knob of a training run, validated once; saved as config.json in the run folder.
// Defaults follow the seed: Adam 1e-3, ReduceLROnPlateau(max val acc, 0.5, patience 2),
// 12% held out (40% of it test), 75% of training images duplicated flipped and rotated.
import { z } from 'zod';
import { PixelsSchema, VARIANTS } from '../model/config.js';

export const TrainConfigSchema = z.object({
  data: z.array(z.string()).min(1),
  runDir: z.string(),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/i).default('facegate'),
  variant: z.enum(VARIANTS).default('mobilefacenet'),
  inputSize: z.number().int().min(32).max(448).default(112),
  embeddingSize: z.number().int().min(16).max(2048).default(512),
  width: z.number().positive().default(1),
  /** Architecture details an imported network brings (see ModelConfig); a warm start must match them. */
  padding: z.enum(['same', 'symmetric']).default('same'),
  pixels: PixelsSchema.default({ channels: 'RGB', mean: 127.5, std: 128 }),
  epochs: z.number().int().min(1).default(30),
  batchSize: z.number().int().min(1).default(64),
  /** Images per forward/backward pass (the BatchNorm batch); bounded by the 4 GiB WASM heap. */
  microBatch: z.number().int().min(1).default(16),
  lr: z.number().positive().default(1e-3),
  weightDecay: z.number().min(0).default(0),
  warmupEpochs: z.number().min(0).default(0),
  plateau: z
    .object({ factor: z.number().positive().max(1).default(0.5), patience: z.number().int().min(0).default(2), minLr: z.number().min(0).default(1e-6) })
    .default({ factor: 0.5, patience: 2, minLr: 1e-6 }),
  s: z.number().positive().default(30),
  m: z.number().min(0).max(1.5).default(0.5),
  workers: z.number().int().min(0).optional(),
  seed: z.number().int().default(42),
  holdout: z.number().min(0).max(0.9).default(0.12),
  testFraction: z.number().min(0).max(1).default(0.4),
  minImagesPerClass: z.number().int().min(1).default(2),
  checkpointEvery: z.number().int().min(1).default(10),
  augment: z.record(z.string(), z.unknown()).optional(),
  loaderWorkers: z.number().int().min(0).default(1),
  cache: z.boolean().default(true),
  /**
   * Identities held out of training entirely; pairs over them (identity-disjoint folds) select
   * the best epoch and drive the LR schedule, so no dev data is looked at during training.
   */
  valIdentities: z.number().int().min(0).default(0),
  valPairs: z.string().optional(),
  valRoot: z.string().optional(),
  /** Teacher embedding cache (see `facegate teacher`) for knowledge distillation. */
  teacher: z.string().optional(),
  /**
   * projection: a learned map into the teacher's space; similarity: match in-batch similarity
   * matrices; direct: 1 - cos(ours, teacher's), for a teacher in our own space (the network we
   * warm-started from, kept frozen), which keeps the adapted model near what it started from.
   */
  distillMode: z.enum(['projection', 'similarity', 'direct']).default('projection'),
  distillWeight: z.number().min(0).default(5),
  /** Subtract the teacher rows' mean over the training images before matching (see TeacherCache.centred). */
  distillCentre: z.boolean().default(false),
  /**
   * Start from another run's checkpoint folder (e.g. `models/training/x/checkpoints/best`) or a
   * model folder (e.g. an imported network) instead of random weights: every tensor of the same
   * name and shape is copied (the ArcFace head only when the class list is the same); Adam and the
   * schedule start fresh. From a model folder, the ArcFace head starts at the class centres of
   * the starting network's embeddings, so the first steps do not pull a good embedding towards
   * random class vectors.
   */
  init: z.string().optional(),
  /** Stop after this many batches per epoch (quick experiments and tests). */
  maxBatchesPerEpoch: z.number().int().min(1).optional(),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;
