/**
 * From a user's description of "how to walk the noise levels" to the sigma array every sampler consumes.
 *
 * Two formulations, one sigma space (see types.ts):
 * - 'vp': a discrete-time variance-preserving model with a named beta schedule over T timesteps. With a discrete
 *   schedule (linear, cosine, ...) the grid is the sigmas of `steps` integer timesteps picked by `spacing`, then 0.
 *   With 'karras' the grid is EDM's rho-spaced sigmas inside the model's own sigma range, evaluated at fractional
 *   timesteps. The prior is N(0, I) in VP space, so x_T = z * sqrt(1 + sigma_0^2) in sigma space.
 * - 'sigma': a continuous model of x = x0 + sigma * eps. 'karras' takes sigmaMin/sigmaMax directly; a named beta
 *   schedule lends its sigmas (useful to compare with a VP run). x_T = z * sigma_0.
 */
import { type ScheduleName, type DiscreteSchedule, makeSchedule, SCHEDULE_NAMES } from './schedules.ts';
import { type Spacing, discreteSigmas, karrasSigmas, scheduleSigmaRange, timestepSpacing } from './spacing.ts';

export type Formulation = 'vp' | 'sigma';
export type GridSchedule = ScheduleName | 'karras';

export interface NoiseGridSpec {
  formulation: Formulation;
  schedule: GridSchedule;
  steps: number;
  /** Discrete training timesteps T (vp, or a named schedule in sigma form). */
  timesteps?: number;
  /** Beta schedule that defines a VP model's noise levels when the grid itself is 'karras'. */
  betaSchedule?: ScheduleName;
  spacing?: Spacing;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
}

export interface NoiseGrid {
  /** Descending, length steps + 1, ending in 0. */
  sigmas: Float64Array;
  /** Multiply standard-normal z by this to get x at sigmas[0] in sigma space. */
  initScale: number;
  /** The discrete schedule a VP model was trained with (vp only). */
  schedule?: DiscreteSchedule;
  /** Integer timesteps of the grid, when it is a discrete one. */
  timesteps?: number[];
}

export const DEFAULT_SIGMA_RANGE = { sigmaMin: 0.002, sigmaMax: 80, rho: 7 } as const;

export function buildNoiseGrid(spec: NoiseGridSpec): NoiseGrid {
  const { formulation, schedule, steps } = spec;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  const T = spec.timesteps ?? 1000;
  const rho = spec.rho ?? DEFAULT_SIGMA_RANGE.rho;
  if (!(rho > 0)) throw new RangeError(`rho must be positive, got ${rho}`);

  if (formulation === 'vp') {
    const beta = schedule === 'karras' ? (spec.betaSchedule ?? 'linear') : schedule;
    const discrete = makeSchedule(beta, T);
    if (schedule === 'karras') {
      const range = scheduleSigmaRange(discrete);
      const sigmaMin = spec.sigmaMin ?? range.sigmaMin;
      const sigmaMax = spec.sigmaMax ?? range.sigmaMax;
      const sigmas = karrasSigmas(steps, sigmaMin, sigmaMax, rho);
      return { sigmas, initScale: Math.sqrt(1 + sigmas[0] ** 2), schedule: discrete };
    }
    if (spec.sigmaMin !== undefined || spec.sigmaMax !== undefined) {
      throw new RangeError('sigma-min/sigma-max apply to the karras schedule only');
    }
    const timesteps = timestepSpacing(T, steps, spec.spacing ?? 'linspace');
    const sigmas = discreteSigmas(discrete, timesteps);
    return { sigmas, initScale: Math.sqrt(1 + sigmas[0] ** 2), schedule: discrete, timesteps };
  }

  if (formulation === 'sigma') {
    if (schedule === 'karras') {
      const sigmaMin = spec.sigmaMin ?? DEFAULT_SIGMA_RANGE.sigmaMin;
      const sigmaMax = spec.sigmaMax ?? DEFAULT_SIGMA_RANGE.sigmaMax;
      const sigmas = karrasSigmas(steps, sigmaMin, sigmaMax, rho);
      return { sigmas, initScale: sigmas[0] };
    }
    const discrete = makeSchedule(schedule, T);
    const timesteps = timestepSpacing(T, steps, spec.spacing ?? 'linspace');
    const sigmas = discreteSigmas(discrete, timesteps);
    return { sigmas, initScale: sigmas[0], timesteps };
  }
  throw new RangeError(`formulation must be vp or sigma, got ${String(formulation)}`);
}

export const GRID_SCHEDULES: readonly GridSchedule[] = [...SCHEDULE_NAMES, 'karras'];
