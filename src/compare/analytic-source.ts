/**
 * Comparison cells over an analytic Gaussian mixture, with the model built as `sample --model` and the sampler lab
 * build it (analytic-plan.ts): 'vp' goes through the discrete VP model path a trained network takes, 'sigma' uses
 * the exact sigma-space denoiser. Arithmetic is float64, so the true error measures the sampler, not rounding.
 */
import { mixtureVpModel } from '../core/analytic.ts';
import { MixtureDenoiser, mixtureDim, sampleMixture, type GaussianMixture } from '../core/gmm.ts';
import { buildNoiseGrid, type NoiseGridSpec } from '../core/noise-grid.ts';
import { vpDenoiser } from '../core/parameterization.ts';
import { BatchNoise, initialNoise, StreamPurpose } from '../core/rng.ts';
import { getSampler } from '../core/samplers/index.ts';
import { scheduleSigmaRange } from '../core/spacing.ts';
import type { Denoiser } from '../core/types.ts';
import type { JsonObject } from '../store/types.ts';
import type { CellSample, CellSource, CellSpec, SampleHooks } from './comparison.ts';

/** The noise grid of a model, less the step count (each cell brings its own). */
export type AnalyticGridSpec = Omit<NoiseGridSpec, 'steps'>;

/** The reference ODE solve: Heun (2nd order) on the model's own kind of grid, at this many steps. */
export const REFERENCE_STEPS = 1000;

export function analyticSource(mixture: GaussianMixture, gridSpec: AnalyticGridSpec, label = 'gmm'): CellSource {
  const dim = mixtureDim(mixture);
  const discrete = gridSpec.schedule !== 'karras';
  const T = gridSpec.timesteps ?? 1000;

  const run = async (cell: CellSpec, n: number, seed: number, hooks: SampleHooks = {}) => {
    if (cell.guidance !== undefined)
      throw new RangeError('guidance needs a conditional model; a mixture has no classes');
    const grid = buildNoiseGrid({ ...gridSpec, steps: cell.steps });
    let denoiser: Denoiser;
    if (gridSpec.formulation === 'vp') {
      const schedule = grid.schedule!;
      const range = scheduleSigmaRange(schedule);
      const last = grid.sigmas[grid.sigmas.length - 2];
      if (grid.sigmas[0] > range.sigmaMax * (1 + 1e-9) || last < range.sigmaMin * (1 - 1e-9)) {
        throw new RangeError(
          `the karras range [${last}, ${grid.sigmas[0]}] lies outside the VP model's noise levels ` +
            `[${range.sigmaMin}, ${range.sigmaMax}]`,
        );
      }
      denoiser = vpDenoiser(mixtureVpModel(mixture, schedule, 'eps'), schedule, 'eps');
    } else {
      denoiser = new MixtureDenoiser(mixture);
    }
    // The same z for every cell: sample j's own init stream of the seed, scaled to this grid's first noise level.
    const x = initialNoise(seed, 0, n, dim, Float64Array);
    for (let i = 0; i < x.length; i++) x[i] *= grid.initScale;
    const result = await getSampler(cell.sampler).run(
      {
        denoiser,
        sigmas: grid.sigmas,
        x,
        noise: new BatchNoise(seed, 0, n, dim, StreamPurpose.sampler),
        ...(hooks.onStep ? { onStep: (info) => hooks.onStep!(info, 0) } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
      },
      cell.options,
    );
    return { samples: result.x, nfe: result.nfe, initScale: grid.initScale } satisfies CellSample;
  };

  const describe: JsonObject = {
    kind: 'gmm',
    source: label,
    mixture: mixture as unknown as JsonObject,
    ...(JSON.parse(JSON.stringify(gridSpec)) as JsonObject),
  };
  return {
    shape: [dim],
    describe,
    sample: run,
    checkSteps(steps) {
      if (discrete && steps > T) {
        throw new RangeError(`steps (${steps}) cannot exceed the ${T} timesteps of a discrete schedule`);
      }
    },
    truth: {
      async reference(n, seed, hooks) {
        const steps = discrete ? Math.min(REFERENCE_STEPS, T) : REFERENCE_STEPS;
        const out = await run({ sampler: 'heun', steps, options: {} }, n, seed, hooks);
        return { ...out, sampler: 'heun', steps };
      },
      exact: (m, seed) => sampleMixture(mixture, m, seed),
    },
  };
}
