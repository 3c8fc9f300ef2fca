// Glue between the gallery and the matcher: builds the search index for the active model from
// the gallery's matrix (rebuilt when the gallery or the search setting changes) and applies the settings.
import type { Gallery } from '../gallery/gallery.js';
import type { Settings } from '../settings/schema.js';
import { identify, verify, type IdentifyResult, type MatchOptions, type VerifyResult } from './identify.js';
import { MatchIndex } from './search-index.js';

export class GalleryMatcher {
  #index?: MatchIndex;
  #built = { revision: -1, modelId: '', coarse: '' };
  #thresholds = new Map<string, { cosine?: number; euclidean?: number }>();

  /** modelId defaults to the gallery's active model. */
  constructor(
    readonly gallery: Gallery,
    readonly settings: () => Settings,
    readonly opts: { modelId?: string } = {},
  ) {}

  get modelId(): string {
    const id = this.opts.modelId ?? this.gallery.activeModelId;
    if (!id) throw new Error('no model id: pass one or activate a model in the gallery');
    return id;
  }

  /** The index of the model's templates, rebuilt only after the gallery changed. */
  index(): MatchIndex {
    const modelId = this.modelId;
    const revision = this.gallery.revision;
    const { coarse } = this.settings().search;
    if (!this.#index || this.#built.revision !== revision || this.#built.modelId !== modelId || this.#built.coarse !== coarse) {
      const m = this.gallery.matrix(modelId);
      this.#index = MatchIndex.build(m, { normalized: true, prebuild: coarse === 'exact' ? [] : [coarse] });
      this.#thresholds = new Map(this.gallery.listIdentities().map((i) => [i.id, i.threshold]));
      this.#built = { revision, modelId, coarse };
    }
    return this.#index;
  }

  /** MatchOptions from the gallery settings (metric, its threshold, per-identity thresholds, ...). */
  options(overrides: Partial<MatchOptions> = {}): MatchOptions {
    const s = this.settings();
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
