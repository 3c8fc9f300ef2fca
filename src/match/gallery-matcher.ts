// Glue between the gallery and the matcher: builds the search index for the active model from
// the gallery's matrix (rebuilt when the gallery changes) and applies the gallery's settings.
import type { Gallery } from '../gallery/gallery.js';
import { identify, verify, type IdentifyResult, type MatchOptions, type VerifyResult } from './identify.js';
import { MatchIndex } from './search-index.js';

export class GalleryMatcher {
  #index?: MatchIndex;
  #built = { revision: -1, modelId: '' };
  #thresholds = new Map<string, { cosine?: number; euclidean?: number }>();

  /** modelId defaults to the gallery's settings.activeModelId. */
  constructor(
    readonly gallery: Gallery,
    readonly opts: { modelId?: string } = {},
  ) {}

  get modelId(): string {
    const id = this.opts.modelId ?? this.gallery.getSettings().activeModelId;
    if (!id) throw new Error('no model id: pass one or set settings.activeModelId');
    return id;
  }

  /** The index of the model's templates, rebuilt only after the gallery changed. */
  index(): MatchIndex {
    const modelId = this.modelId;
    const revision = this.gallery.revision;
    if (!this.#index || this.#built.revision !== revision || this.#built.modelId !== modelId) {
      const m = this.gallery.matrix(modelId);
      const { coarse } = this.gallery.getSettings().search;
      this.#index = MatchIndex.build(m, { normalized: true, prebuild: coarse === 'exact' ? [] : [coarse] });
      this.#thresholds = new Map(this.gallery.listIdentities().map((i) => [i.id, i.threshold]));
      this.#built = { revision, modelId };
    }
    return this.#index;
  }

  /** MatchOptions from the gallery settings (metric, its threshold, per-identity thresholds, ...). */
  options(overrides: Partial<MatchOptions> = {}): MatchOptions {
    const s = this.gallery.getSettings();
    const metric = overrides.metric ?? s.metric;
    const thresholds = this.#thresholds;
    return {
      metric,
      threshold: s.thresholds[metric],
      identityThreshold: (id) => thresholds.get(id)?.[metric],
      aggregate: s.aggregate.mode === 'max' ? { mode: 'max' } : { mode: 'meanTopK', k: s.aggregate.k },
      topK: s.topK,
      minMargin: s.minMargin,
      coarse: s.search.coarse,
      rerank: s.search.rerank ?? undefined,
      ...overrides,
    };
  }

  identify(query: ArrayLike<number>, overrides?: Partial<MatchOptions>): IdentifyResult {
    const index = this.index();
    return identify(index, query, this.options(overrides));
  }

  verify(query: ArrayLike<number>, identityId: string, overrides?: Partial<MatchOptions>): VerifyResult {
    const index = this.index();
    return verify(index, query, identityId, this.options(overrides));
  }
}
