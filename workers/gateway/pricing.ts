import { DEFAULT_MODEL_PRICES, type ModelPrice, type PricingConfig } from '../../src/config/sections/sandbox-policy.js';
import type { Usage } from './usage.js';

// What a response costs, from the usage the gateway metered and the price
// table in config. The gateway's figure is the one budgets are enforced on;
// the CLI's own total_cost_usd is only reported.

export type { ModelPrice } from '../../src/config/sections/sandbox-policy.js';

/** Price of a model by the name a response carries (null when it named none). */
export type Pricing = (model: string | null) => ModelPrice;

const PER_TOKEN = 1 / 1_000_000;

/** Longest-prefix match over the table (`claude-sonnet-4` prices `claude-sonnet-4-5-20250929`); `default` otherwise. */
export function createPricing(cfg: PricingConfig): Pricing {
  const names = Object.keys(cfg.models).sort((a, b) => b.length - a.length);
  const cache = new Map<string, ModelPrice>();
  return (model) => {
    if (model === null) return cfg.default;
    const known = cache.get(model);
    if (known !== undefined) return known;
    const name = names.find((candidate) => model === candidate || model.startsWith(candidate));
    const price = name === undefined ? cfg.default : (cfg.models[name] as ModelPrice);
    // Model names come from upstream responses; a bounded cache keeps a stream of odd names from growing it.
    if (cache.size < 256) cache.set(model, price);
    return price;
  };
}

export const defaultPricing: Pricing = createPricing({
  models: DEFAULT_MODEL_PRICES,
  default: DEFAULT_MODEL_PRICES['claude-opus-4'] as ModelPrice,
});

/** USD for a usage delta at a price. */
export function costOf(usage: Usage, price: ModelPrice): number {
  return (
    (usage.input_tokens * price.input +
      usage.output_tokens * price.output +
      usage.cache_creation_input_tokens * price.cache_write +
      usage.cache_read_input_tokens * price.cache_read) *
    PER_TOKEN
  );
}
