/**
 * The sampler flags that `sample --model` and `sample --run` share: which flag sets which sampler option, and the
 * rule that a flag the chosen sampler does not take is an error rather than silently ignored.
 */
import { getSampler } from '../core/samplers/index.ts';
import { UsageError } from './errors.ts';
import { floatFlag } from './options.ts';

export const SAMPLER_FLAGS = {
  eta: 'eta',
  variance: 'variance',
  order: 'order',
  variant: 'variant',
  'solver-type': 'solver_type',
  's-churn': 's_churn',
  's-noise': 's_noise',
} as const;

/** parseArgs option entries for the sampler flags. */
export const SAMPLER_FLAG_OPTIONS = Object.fromEntries(
  Object.keys(SAMPLER_FLAGS).map((flag) => [flag, { type: 'string' as const }]),
) as Record<keyof typeof SAMPLER_FLAGS, { type: 'string' }>;

/** The options object for sampler `samplerName` from the parsed flag values. */
export function samplerOptionsFromFlags(
  samplerName: string,
  values: Partial<Record<string, unknown>>,
): Record<string, unknown> {
  const entry = getSampler(samplerName);
  const options: Record<string, unknown> = {};
  for (const [flag, key] of Object.entries(SAMPLER_FLAGS)) {
    const raw = values[flag] as string | undefined;
    if (raw === undefined) continue;
    if (!(key in entry.defaults)) throw new UsageError(`--${flag} is not an option of sampler ${samplerName}`);
    options[key] = typeof entry.defaults[key] === 'number' ? floatFlag(flag, raw) : raw;
  }
  const eta = options.eta as number | undefined;
  if (eta !== undefined && samplerName === 'ddim' && !(eta >= 0 && eta <= 1)) {
    throw new UsageError(`--eta must be in [0, 1] for ddim (got ${eta})`);
  }
  if (options.variance !== undefined && !['beta', 'beta-tilde'].includes(options.variance as string)) {
    throw new UsageError(`--variance must be beta or beta-tilde (got "${options.variance}")`);
  }
  return options;
}

/** Samplers validate their own options when they start: surface those as usage errors, not crashes. */
export async function runChecked<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof RangeError && /option|variance/.test(e.message)) throw new UsageError(e.message);
    throw e;
  }
}
