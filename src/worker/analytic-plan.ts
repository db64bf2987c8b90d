/**
 * From an analytic sampling request to everything a run needs: the checked mixture, the noise grid, the sampler and
 * its options, and the exact denoiser. Pure and cheap, so the service calls it to reject a bad request before any
 * worker starts, and the worker calls it again to run (one source of truth for both).
 *
 * The denoiser follows the formulation, as the CLI's `sample` command does: 'vp' goes through the discrete VP model
 * path (schedule, fractional timestep, eps parameterization) a trained network would take; 'sigma' is the mixture's
 * exact sigma-space denoiser.
 */
import type { SamplerOptionValue } from '../api/contract.ts';
import { ValidationError } from '../api/errors.ts';
import { mixtureVpModel } from '../core/analytic.ts';
import { MixtureDenoiser, mixtureDim, parseGaussianMixture, type GaussianMixture } from '../core/gmm.ts';
import { buildNoiseGrid, GRID_SCHEDULES, type NoiseGrid } from '../core/noise-grid.ts';
import { vpDenoiser } from '../core/parameterization.ts';
import { getSampler, SAMPLER_NAMES } from '../core/samplers/index.ts';
import { scheduleSigmaRange, SPACINGS } from '../core/spacing.ts';
import type { Denoiser } from '../core/types.ts';
import type { ResolvedAnalyticRequest } from './sample-messages.ts';

/** Bounds that keep one job's trajectory (steps x n x dim floats, streamed to the UI) in the tens of megabytes. */
export const ANALYTIC_LIMITS = { maxSteps: 1000, maxSamples: 20_000, maxDim: 16 } as const;

export interface AnalyticPlan {
  mixture: GaussianMixture;
  dim: number;
  grid: NoiseGrid;
  sampler: ReturnType<typeof getSampler>;
  options: Record<string, SamplerOptionValue>;
  denoiser: Denoiser;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ValidationError(message);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

export function planAnalyticSampling(request: ResolvedAnalyticRequest): AnalyticPlan {
  check(!!request && typeof request === 'object', 'the request must be an object');
  const { formulation, schedule, steps, sampler: samplerName, seed, n, spacing, sigmaMin, sigmaMax } = request;
  check(formulation === 'vp' || formulation === 'sigma', `formulation must be vp or sigma, got ${String(formulation)}`);
  check(GRID_SCHEDULES.includes(schedule), `schedule must be one of ${GRID_SCHEDULES.join(', ')}`);
  check(
    (SAMPLER_NAMES as readonly string[]).includes(samplerName),
    `sampler must be one of ${SAMPLER_NAMES.join(', ')}, got ${String(samplerName)}`,
  );
  check(isInt(steps, 1, ANALYTIC_LIMITS.maxSteps), `steps must be an integer in 1..${ANALYTIC_LIMITS.maxSteps}`);
  check(isInt(n, 1, ANALYTIC_LIMITS.maxSamples), `n must be an integer in 1..${ANALYTIC_LIMITS.maxSamples}`);
  check(isInt(seed, 0, Number.MAX_SAFE_INTEGER), 'seed must be a non-negative safe integer');
  check(spacing === undefined || SPACINGS.includes(spacing), `spacing must be one of ${SPACINGS.join(', ')}`);
  for (const [name, v] of [
    ['sigmaMin', sigmaMin],
    ['sigmaMax', sigmaMax],
  ] as const) {
    check(v === undefined || (typeof v === 'number' && v > 0 && Number.isFinite(v)), `${name} must be positive`);
  }

  let mixture: GaussianMixture;
  try {
    mixture = parseGaussianMixture(request.mixture);
  } catch (e) {
    throw new ValidationError((e as Error).message);
  }
  const dim = mixtureDim(mixture);
  check(dim <= ANALYTIC_LIMITS.maxDim, `mixture dimension ${dim} exceeds ${ANALYTIC_LIMITS.maxDim}`);

  const sampler = getSampler(samplerName);
  const options: Record<string, SamplerOptionValue> = {};
  for (const [key, value] of Object.entries(request.samplerOptions ?? {})) {
    check(key in sampler.defaults, `"${key}" is not an option of ${sampler.label}`);
    const def = (sampler.defaults as Record<string, unknown>)[key];
    check(typeof value === typeof def, `option "${key}" of ${sampler.label} must be a ${typeof def}`);
    check(typeof value !== 'number' || Number.isFinite(value), `option "${key}" must be a finite number`);
    options[key] = value;
  }

  let grid: NoiseGrid;
  try {
    grid = buildNoiseGrid({ formulation, schedule, steps, spacing, sigmaMin, sigmaMax });
  } catch (e) {
    throw new ValidationError((e as Error).message);
  }

  let denoiser: Denoiser;
  if (formulation === 'vp') {
    const discrete = grid.schedule!;
    const range = scheduleSigmaRange(discrete);
    const last = grid.sigmas[grid.sigmas.length - 2];
    check(
      grid.sigmas[0] <= range.sigmaMax * (1 + 1e-9) && last >= range.sigmaMin * (1 - 1e-9),
      `the karras range [${last}, ${grid.sigmas[0]}] lies outside the VP model's noise levels ` +
        `[${range.sigmaMin}, ${range.sigmaMax}]`,
    );
    denoiser = vpDenoiser(mixtureVpModel(mixture, discrete, 'eps'), discrete, 'eps');
  } else {
    denoiser = new MixtureDenoiser(mixture);
  }
  return { mixture, dim, grid, sampler, options, denoiser };
}

/**
 * Samplers check their option ranges (e.g. DDIM's eta in [0, 1]) when they start. A one-step dry run over a zero
 * denoiser surfaces those errors as a ValidationError of the call, instead of a job-error moments later.
 */
export async function checkSamplerOptions(plan: Pick<AnalyticPlan, 'dim' | 'sampler' | 'options'>): Promise<void> {
  const { dim } = plan;
  const zero: Denoiser = { dim, denoise: (x) => ({ x0: new Float64Array(x.length) }) };
  const noise = { normal: (out: Float64Array | Float32Array) => out.fill(0) };
  try {
    await plan.sampler.run(
      { denoiser: zero, sigmas: Float64Array.of(1, 0), x: new Float64Array(dim), noise },
      plan.options,
    );
  } catch (e) {
    throw new ValidationError((e as Error).message);
  }
}
